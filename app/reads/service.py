"""The two consumer reads as the routes call them: one secret, and the secrets at a path.

Each authenticates the caller through the read cache, then reads through it, then counts a value read
for the audit log. A cache hit costs no thread hop and no database round trip; a miss runs the database
work in the threadpool. The caller is authenticated before the query is read, so a bad token is a 401
whatever the query says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from app import db
from app.auth import caller
from app.auth.principal import Principal
from app.errors import ValidationFailure
from app.reads import rate_limit, secrets
from app.reads.audit import writer_for
from app.reads.cache import MAX_AGE_SECONDS, ReadCache, Stamp, cache_for
from app.reads.query import SecretQuery, parse_query_string
from app.store.consumers import RotatedRead
from app.timeutil import utcnow


@dataclass(frozen=True)
class SecretResult:
    """What the route sends: the ETag, and the body, or None when the client's copy is current (304)."""

    etag: str
    body: bytes | None


@dataclass(frozen=True)
class _RenderedSecret:
    """A rendered read as the cache keeps it, with what the audit entry names."""

    body: bytes
    etag: str
    project_id: str
    secret_id: str
    rotated: RotatedRead | None


def _json(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def _principal(cache: ReadCache, stamp: Stamp | None, token: str, client_ip: str | None) -> Principal:
    key = ("principal", hashlib.sha256(token.encode()).digest(), client_ip)

    def fill() -> tuple[Principal, float]:
        principal = caller.authenticate(token, client_ip)
        if principal.uses_limited:  # a use-limited token counts every use: never cached
            return principal, 0
        if principal.expires_at is None:
            return principal, MAX_AGE_SECONDS
        return principal, (principal.expires_at - utcnow()).total_seconds()

    principal, computed = await cache.fetch(key, stamp, fill)
    if principal.uses_limited and not computed:
        # Shared from another request's fill: this request's use must be counted too.
        principal = await run_in_threadpool(caller.authenticate, token, client_ip)
    rate_limit.check(principal)  # every read authenticates here: the one place its budget is spent
    return principal


def _not_modified(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison, as RFC 9110 asks for If-None-Match.
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def _load_secret(principal: Principal, query: SecretQuery, name: str) -> _RenderedSecret:
    request_caller = caller.for_request(principal)  # memberships as they are now, not as when cached
    with db.unit_of_work() as session:
        read = secrets.read_secret(session, request_caller, query, name)
    return _RenderedSecret(_json({"secret": read.view}), read.etag, read.project_id, read.secret_id, read.rotated)


async def read_secret(
    *, token: str, client_ip: str | None, query_string: bytes, name: str, if_none_match: str | None
) -> SecretResult:
    """One secret's current value (Python `get_secret_by_name`, Node `getSecret`, Go `Retrieve`)."""
    cache = cache_for(db.engine())
    stamp = cache.stamp()
    principal = await _principal(cache, stamp, token, client_ip)
    query = parse_query_string(
        query_string,
        missing_project="You must provide workspaceSlug or workspaceId",
        missing_environment="Missing environment",
    )
    name = name.strip()
    if not name:
        raise ValidationFailure.one(["secretName"], "Secret name required")
    key = ("secret", principal.identity_id, query, name)
    read, _ = await cache.fetch(key, stamp, lambda: (_load_secret(principal, query, name), MAX_AGE_SECONDS))
    if _not_modified(if_none_match, read.etag):
        return SecretResult(read.etag, None)
    if query.view_value:
        writer = writer_for(db.engine())
        if read.rotated is not None and principal.identity_id is not None:  # a consumer of a rotated key
            writer.consumed(identity_id=principal.identity_id, ip=principal.client_ip, read=read.rotated)
        writer.add(
            actor=principal.actor,
            ip=principal.client_ip,
            event="get-secret",
            project_id=read.project_id,
            resource_id=read.secret_id,
            metadata=(("secretName", name), ("environment", query.environment), ("secretPath", query.secret_path)),
        )
    return SecretResult(read.etag, read.body)


def _load_list(principal: Principal, query: SecretQuery) -> tuple[str, list[dict], list[RotatedRead]]:
    request_caller = caller.for_request(principal)
    with db.unit_of_work() as session:
        return secrets.list_secrets(session, request_caller, query)


async def list_secrets(*, token: str, client_ip: str | None, query_string: bytes) -> bytes:
    """The secrets at one path, or under it (Python `list_secrets`, Node `listSecrets`, Go `List`); never cached,
    so only the caller is. `imports` is always []."""
    cache = cache_for(db.engine())
    principal = await _principal(cache, cache.stamp(), token, client_ip)
    query = parse_query_string(
        query_string,
        missing_project="Missing project id or environment",
        missing_environment="Missing project id or environment",
    )
    project_id, views, rotated = await run_in_threadpool(_load_list, principal, query)
    if query.view_value and views:
        writer = writer_for(db.engine())
        if principal.identity_id is not None:
            for read in rotated:
                writer.consumed(identity_id=principal.identity_id, ip=principal.client_ip, read=read)
        writer.add(
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
    return _json({"secrets": views, "imports": []})
