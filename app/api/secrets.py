"""Routes: the consumer read API the official Infisical SDKs call (consumer spec §5–§6).

These are `async def` and read the query by hand: the SDKs send unknown and empty parameters that a
strict schema would refuse (spec §2.2), and a cache hit (app.reads.cache) then costs no thread
hop and no database round trip. Misses run the database work in the threadpool.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from app import db
from app.api.deps import bearer_token, client_ip, current_principal
from app.auth.principal import Principal
from app.errors import BadRequest, ValidationFailure
from app.reads import secrets as secret_reads
from app.reads.audit import writer_for
from app.reads.cache import MAX_AGE_SECONDS, ReadCache, Stamp, cache_for
from app.reads.secrets import SecretQuery
from app.schemas.fields import normalise_secret_path
from app.timeutil import utcnow

router = APIRouter(tags=["secrets"])

_NO_STORE = "no-store"


@dataclass(frozen=True)
class RenderedRead:
    body: bytes
    etag: str
    project_id: str
    secret_id: str
    secret_path: str
    environment: str


# --- query parsing (spec §2.2, §5.1, §6) -------------------------------------------------------------


def _param(params: QueryParams, name: str) -> str | None:
    """Empty values count as absent (Go sends `version=` and `workspaceSlug=` when unset)."""
    value = params.get(name)
    return value if value else None


def _flag(params: QueryParams, name: str, default: bool) -> bool:
    value = _param(params, name)
    if value is None:
        return default
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValidationFailure.one([name], "Expected 'true' or 'false'", code="invalid_enum_value")


def parse_query(params: QueryParams, *, missing_project: str, missing_environment: str) -> SecretQuery:
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
    version = _param(params, "version")
    if version is not None:
        if not version.isdigit() or int(version) < 1:
            raise ValidationFailure.one(["version"], "Expected a positive integer", code="invalid_type")
        version = int(version)
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


# --- authentication through the cache ----------------------------------------------------------------


async def _principal(request: Request, cache: ReadCache, stamp: Stamp | None) -> Principal:
    token = bearer_token(request)
    key = ("principal", hashlib.sha256(token.encode()).digest(), client_ip(request))

    def fill() -> tuple[Principal, float]:
        principal = current_principal(request)
        if principal.uses_limited:  # a use-limited token counts every use: never cached
            return principal, 0
        if principal.expires_at is None:
            return principal, MAX_AGE_SECONDS
        return principal, (principal.expires_at - utcnow()).total_seconds()

    principal, computed = await cache.fetch(key, stamp, fill)
    if principal.uses_limited and not computed:
        # Shared from another request's fill: this request's use must be counted too.
        principal = await run_in_threadpool(current_principal, request)
    return principal


def _audit(principal: Principal, event: str, read: RenderedRead, metadata: tuple) -> None:
    writer_for(db.engine()).add(
        actor=principal.actor,
        ip=principal.client_ip,
        event=event,
        project_id=read.project_id,
        resource_id=read.secret_id,
        metadata=metadata,
    )


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    # Weak comparison, as RFC 9110 asks for If-None-Match.
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


# --- routes -------------------------------------------------------------------------------------------


def _load_secret(principal: Principal, query: SecretQuery, name: str) -> RenderedRead:
    with Session(db.engine()) as session:
        # A fresh copy: the grants memo starts empty, so this miss reads memberships as they are now.
        read = secret_reads.read_secret(session, dataclasses.replace(principal), query, name)
    body = json.dumps({"secret": read.view}, separators=(",", ":")).encode()
    return RenderedRead(body, read.etag, read.project_id, read.secret_id, query.secret_path, query.environment)


_QUERY_DOC = [{"name": "secretName", "in": "path", "required": True, "schema": {"type": "string"}}] + [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in (
        "workspaceId",
        "workspaceSlug",
        "projectId",
        "environment",
        "secretPath",
        "viewSecretValue",
        "expandSecretReferences",
        "include_imports",
        "type",
        "version",
    )
]


@router.get(
    "/api/v3/secrets/raw/{secretName}",
    operation_id="getSecretByNameV3",
    openapi_extra={"parameters": _QUERY_DOC},
    response_class=Response,
)
async def get_secret_by_name(request: Request) -> Response:
    """Read one secret's current value (Python `get_secret_by_name`, Node `getSecret`, Go `Retrieve`)."""
    cache = cache_for(db.engine())
    stamp = cache.stamp()
    principal = await _principal(request, cache, stamp)  # 401 comes before any complaint about the query
    query = parse_query(
        request.query_params,
        missing_project="You must provide workspaceSlug or workspaceId",
        missing_environment="Missing environment",
    )
    name = request.path_params["secretName"].strip()
    if not name:
        raise ValidationFailure.one(["secretName"], "Secret name required")
    key = ("secret", principal.identity_id, query, name)
    read, _ = await cache.fetch(key, stamp, lambda: (_load_secret(principal, query, name), MAX_AGE_SECONDS))
    headers = {"ETag": read.etag, "Cache-Control": _NO_STORE}
    if _not_modified(request, read.etag):
        return Response(status_code=304, headers=headers)
    if query.view_value:
        _audit(
            principal,
            "get-secret",
            read,
            (("secretName", name), ("environment", read.environment), ("secretPath", read.secret_path)),
        )
    return Response(read.body, media_type="application/json", headers=headers)


def _load_list(principal: Principal, query: SecretQuery) -> tuple[str, list[dict]]:
    with Session(db.engine()) as session:
        return secret_reads.list_secrets(session, dataclasses.replace(principal), query)


@router.get(
    "/api/v3/secrets/raw",
    operation_id="listSecretsV3",
    openapi_extra={"parameters": _QUERY_DOC[1:]},
    response_class=Response,
)
async def list_secrets(request: Request) -> Response:
    """List the secrets at one path (Python `list_secrets`, Node `listSecrets`, Go `List`); `imports` is always []."""
    cache = cache_for(db.engine())
    principal = await _principal(request, cache, cache.stamp())  # 401 comes before any complaint about the query
    query = parse_query(
        request.query_params,
        missing_project="Missing project id or environment",
        missing_environment="Missing project id or environment",
    )
    project_id, views = await run_in_threadpool(_load_list, principal, query)
    if query.view_value and views:
        writer_for(db.engine()).add(
            actor=principal.actor,
            ip=principal.client_ip,
            event="get-secrets",
            project_id=project_id,
            resource_id=None,
            metadata=(
                ("environment", query.environment),
                ("secretPath", query.secret_path),
                ("secretCount", len(views)),
            ),
        )
    body = json.dumps({"secrets": views, "imports": []}, separators=(",", ":")).encode()
    return Response(body, media_type="application/json", headers={"Cache-Control": _NO_STORE})
