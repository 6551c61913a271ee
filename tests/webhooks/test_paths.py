"""Path globs as Infisical matches them (picomatch, strictSlashes false): `/` is the root only, `/**` is all."""

from __future__ import annotations

import pytest

from app.webhooks.paths import matches

CASES = [
    ("/", "/", True),
    ("/", "/openrouter", False),
    ("/**", "/", True),
    ("/**", "/a/b/c", True),
    ("/openrouter/**", "/openrouter", True),
    ("/openrouter/**", "/openrouter/prod/eu", True),
    ("/openrouter/**", "/openrouterx", False),
    ("/openrouter", "/openrouter/", True),
    ("/a/*", "/a/b", True),
    ("/a/*", "/a/b/c", False),
    ("/a/*/c", "/a/b/c", True),
    ("/a?", "/ab", True),
    ("/a.b", "/aXb", False),
    ("/a/**/z", "/a/z", True),
    ("/a/**/z", "/a/b/c/z", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), CASES)
def test_glob(pattern, path, expected):
    assert matches(pattern, path) is expected
