"""Matching a webhook's `secretPath` glob against the folder an event happened in (Infisical matches with picomatch,
`strictSlashes: false`).

`**` as a whole segment matches any number of folders, none included; `*` matches within one folder name and `?`
one character of it; anything else is literal (no braces or extended globs). A trailing `/` is ignored on either
side. `/` matches the root only: `/**` matches every folder."""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    parts = ["^"]
    for segment in pattern.rstrip("/").split("/")[1:]:
        if segment == "**":
            parts.append("(?:/[^/]+)*")
            continue
        parts.append("/")
        for char in segment:
            parts.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
    parts.append("$")
    return re.compile("".join(parts).replace("[^/]*[^/]*", "[^/]*"))


def matches(pattern: str, path: str) -> bool:
    return _compiled(pattern).match(path.rstrip("/")) is not None
