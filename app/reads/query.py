"""The read API's query string as the SDKs send it (consumer §2.2, consumer §5.1, consumer §6).

Read by hand rather than by a strict schema: the SDKs send unknown parameters, and empty ones for what
they leave unset (Go sends `version=` and `workspaceSlug=`), which count as absent.

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


def _param(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def _flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    value = _param(params, name)
    if value is None:
        return default
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValidationFailure.one([name], "Expected 'true' or 'false'", code="invalid_enum_value")


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
    project_id = _param(params, "workspaceId") or _param(params, "projectId")
    project_slug = _param(params, "workspaceSlug")
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
    # expandSecretReferences and include_imports are accepted and ignored: keyturn has neither.
    _flag(params, "expandSecretReferences", True)
    _flag(params, "include_imports", False)
    return SecretQuery(
        project_id=project_id,
        project_slug=project_slug if project_id is None else None,
        environment=environment.strip(),
        secret_path=secret_path,
        view_value=_flag(params, "viewSecretValue", True),
        secret_type=secret_type,
        version=version,
        recursive=_flag(params, "recursive", False),
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
