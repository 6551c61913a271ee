"""Scope globs (identity §8.3), table-driven."""

from __future__ import annotations

import pytest

from app.auth.scope import normalise_path, path_matches, validate_glob

CASES = [
    ("/openrouter/**", "/openrouter", True),
    ("/openrouter/**", "/openrouter/main", True),
    ("/openrouter/**", "/openrouter/a/b", True),
    ("/openrouter/**", "/", False),
    ("/openrouter/**", "/openrouter-old", False),
    ("/openrouter/**", "/other/openrouter", False),
    ("/openrouter/*", "/openrouter/main", True),
    ("/openrouter/*", "/openrouter", False),
    ("/openrouter/*", "/openrouter/a/b", False),
    ("/", "/", True),
    ("/", "/openrouter", False),
    ("/**", "/", True),
    ("/**", "/a/b/c", True),
    ("/team-?/keys", "/team-a/keys", True),
    ("/team-?/keys", "/team-ab/keys", False),
    ("/a/**/z", "/a/z", True),
    ("/a/**/z", "/a/b/c/z", True),
    ("/a/**/z", "/a/b/c", False),
    ("/OpenRouter", "/openrouter", False),  # case-sensitive
    ("/a[1]", "/a[1]", True),  # brackets are literal
    ("/a[1]", "/a1", False),
    ("/openrouter/**", "/openrouter/", True),  # normalised
    ("/openrouter/**", "//openrouter//main/", True),
]


@pytest.mark.parametrize(("glob", "path", "expected"), CASES)
def test_glob(glob, path, expected):
    assert path_matches(glob, path) is expected


def test_normalise_path():
    assert normalise_path("") == "/"
    assert normalise_path("a//b/") == "/a/b"


@pytest.mark.parametrize("bad", ["openrouter", "/a**", "/**b/c", "/" + "a" * 256])
def test_invalid_globs(bad):
    with pytest.raises(ValueError):
        validate_glob(bad)
