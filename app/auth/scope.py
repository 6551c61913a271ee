"""Membership scope globs (identity §8.3): `*` and `?` inside one segment, `**` as whole segments."""

from __future__ import annotations

import re
from functools import lru_cache


def normalise_path(path: str) -> str:
    """A leading `/`, no trailing `/` except the root, no empty segments."""
    segments = [part for part in path.strip().split("/") if part]
    return "/" + "/".join(segments)


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


@lru_cache(maxsize=4096)
def _segment_regex(pattern: str) -> re.Pattern:
    body = "".join("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body)


def _match(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        # Zero or more whole segments.
        return any(_match(rest, path[i:]) for i in range(len(path) + 1))
    if not path or not _segment_regex(head).fullmatch(path[0]):
        return False
    return _match(rest, path[1:])


def path_matches(glob: str, path: str) -> bool:
    """Case-sensitive match of a normalised secret path against one glob."""
    return _match(_segments(normalise_path(glob)), _segments(normalise_path(path)))


def validate_glob(glob: str) -> str:
    """Raise ValueError unless `glob` is a valid scope path glob; return it normalised."""
    if not isinstance(glob, str) or not glob.startswith("/"):
        raise ValueError("Secret path globs must start with /")
    if len(glob) > 256:
        raise ValueError("Secret path globs must be at most 256 characters")
    for segment in _segments(glob):
        if "**" in segment and segment != "**":
            raise ValueError("** may only be used as a whole path segment")
    return normalise_path(glob)
