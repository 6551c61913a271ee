"""The read API's query string as the SDKs and clients send it (consumer §2.2, consumer §5.1, consumer §6,
clients §3.1, clients §5.1), for the v3 and v4 reads alike.

Read by hand rather than by a strict schema: clients send unknown parameters, and empty ones for what they
leave unset (Go sends `version=`, `workspaceId=` and `workspaceSlug=`), which count as absent. Leniency where
clients differ: both spellings of the imports flag, `projectSlug` beside `workspaceSlug`, and booleans as
`true`/`false`/`1`/`0` in any case. A bad value of a parameter keyturn knows is still a 422.

A consumer sends the same query string on every read, so parsed queries are kept, keyed by the raw bytes
(short ones only, so the cache stays small whatever clients send). A refused query is not kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

from app.errors import BadRequest, ValidationFailure
from app.validation import normalise_secret_path

MAX_VERSION = 2**31 - 1  # the secret's version column is an INTEGER
MAX_CACHED_QUERY_BYTES = 512
CACHED_QUERIES = 1024
_DIGITS = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class SecretQuery:
    project_id: str | None
    project_slug: str | None
    environment: str
    secret_path: str
    view_value: bool = True
    secret_type: str = "shared"
    version: int | None = None
    recursive: bool = False
    tag_slugs: tuple[str, ...] = ()  # keyturn secrets carry no tags: a list filtered by tags is empty


_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _param(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def _flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    value = _param(params, name)
    if value is None:
        return default
    flag = _FLAGS.get(value.lower())
    if flag is None:
        raise ValidationFailure.one([name], "Expected 'true', 'false', '1' or '0'", code="invalid_enum_value")
    return flag


def _tag_slugs(params: Mapping[str, str]) -> tuple[str, ...]:
    value = _param(params, "tagSlugs")
    return () if value is None else tuple(slug for slug in (s.strip() for s in value.split(",")) if slug)


def _version(params: Mapping[str, str]) -> int | None:
    """ASCII digits only (`'²'.isdigit()` is True, yet int('²') raises), few enough for int() to parse, and
    within the INTEGER column."""
    value = _param(params, "version")
    if value is None:
        return None
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_VERSION:
        raise ValidationFailure.one(["version"], "Expected a positive integer", code="invalid_type")
    return int(value)


def parse_query(params: Mapping[str, str], *, missing_project: str, missing_environment: str) -> SecretQuery:
    # An id wins over a slug (clients §5.1); Go sends both keys, one of them empty.
    project_id = _param(params, "workspaceId") or _param(params, "projectId")
    project_slug = _param(params, "workspaceSlug") or _param(params, "projectSlug")
    if project_id is None and project_slug is None:
        raise BadRequest(missing_project)
    environment = _param(params, "environment")
    if environment is None or not environment.strip():
        raise BadRequest(missing_environment)
    try:
        secret_path = normalise_secret_path(_param(params, "secretPath") or "/")
    except ValueError as exc:
        raise ValidationFailure.one(["secretPath"], str(exc)) from None
    secret_type = _param(params, "type") or "shared"
    if secret_type not in ("shared", "personal"):
        raise ValidationFailure.one(["type"], "Expected 'shared' or 'personal'", code="invalid_enum_value")
    version = _version(params)
    # Checked, then ignored: keyturn has no references, no imports, and identities no personal overrides.
    for inert in ("expandSecretReferences", "include_imports", "includeImports", "includePersonalOverrides"):
        _flag(params, inert, True)
    return SecretQuery(
        project_id=project_id,
        project_slug=project_slug if project_id is None else None,
        environment=environment.strip(),
        secret_path=secret_path,
        view_value=_flag(params, "viewSecretValue", True),
        secret_type=secret_type,
        version=version,
        recursive=_flag(params, "recursive", False),
        tag_slugs=_tag_slugs(params),
    )


def parse_query_string(raw: bytes, *, missing_project: str, missing_environment: str) -> SecretQuery:
    """`parse_query` of a raw query string, as the server passed it."""
    if len(raw) > MAX_CACHED_QUERY_BYTES:
        return _parse_raw(raw, missing_project, missing_environment)
    return _parse_raw_cached(raw, missing_project, missing_environment)


def _parse_raw(raw: bytes, missing_project: str, missing_environment: str) -> SecretQuery:
    # As Starlette reads a query: percent-decoded as UTF-8, blank values kept, the last of a repeated name wins.
    params = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
    return parse_query(params, missing_project=missing_project, missing_environment=missing_environment)


_parse_raw_cached = lru_cache(maxsize=CACHED_QUERIES)(_parse_raw)
