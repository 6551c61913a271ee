"""The two consumer reads as the routes call them: one secret, and the secrets at a path, for the v3 and v4
APIs alike (they differ only in the messages of a missing selector: `ReadApi`).

Each authenticates the caller through the read cache, then reads through it, then counts a value read
for the audit log and the consumer records, a 304 included (the client did read the value: its copy is
current). A cache hit costs no thread hop and no database round trip; a miss runs the database work in the
threadpool. The caller is authenticated before the query is read, so a bad token is a 401 whatever the query
says, and before the ETag is compared, so a 304 is never an answer to a caller who may not read.
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
from app.reads.etag import etag_of, not_modified
from app.reads.query import SecretQuery, parse_query_string
from app.store.consumers import RotatedRead
from app.timeutil import utcnow


@dataclass(frozen=True)
class ReadApi:
    """What one version of the read API says when the project or environment is missing."""

    get_missing_project: str
    get_missing_environment: str
    list_missing: str


# consumer §5.1, consumer §6
V3 = ReadApi(
    "You must provide workspaceSlug or workspaceId", "Missing environment", "Missing project id or environment"
)
# clients §3.4, clients §4 (Infisical's v4 message has the two spaces)
V4 = ReadApi("You must provide  workspaceId", "Missing environment", "Missing project id or environment")


@dataclass(frozen=True)
class SecretResult:
    """What the route sends: the ETag, and the body, or None when the client's copy is current (304)."""

    etag: str
    body: bytes | None


@dataclass(frozen=True)
class _Rendered:
    """A rendered read as the cache keeps it: the body and its ETag, computed once per fill so that a 304 costs
    one comparison, and what the audit entry and the consumer records name."""

    body: bytes
    etag: str
    project_id: str
    secret_id: str | None  # the one secret read; None for a list
    count: int  # secrets in the body
    rotated: tuple[RotatedRead, ...]  # the rotation-owned ones among them


def _rendered(body: object, project_id: str, secret_id: str | None, count: int, rotated) -> _Rendered:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return _Rendered(raw, etag_of(raw), project_id, secret_id, count, tuple(rotated))


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


def _count_read(principal: Principal, read: _Rendered, event: str, metadata: tuple[tuple[str, object], ...]) -> None:
    """A value read, for the audit log and the consumer records (a 304 counts: the client holds the value)."""
    writer = writer_for(db.engine())
    if principal.identity_id is not None:  # a consumer of rotated keys; the admin token is not one
        for rotated in read.rotated:
            writer.consumed(identity_id=principal.identity_id, ip=principal.client_ip, read=rotated)
    writer.add(
        actor=principal.actor,
        ip=principal.client_ip,
        event=event,
        project_id=read.project_id,
        resource_id=read.secret_id,
        metadata=metadata,
    )


def _reply(read: _Rendered, if_none_match: str | None) -> SecretResult:
    return SecretResult(read.etag, None if not_modified(if_none_match, read.etag) else read.body)


def _load_secret(principal: Principal, query: SecretQuery, name: str) -> _Rendered:
    request_caller = caller.for_request(principal)  # memberships as they are now, not as when cached
    with db.unit_of_work() as session:
        read = secrets.read_secret(session, request_caller, query, name)
    return _rendered({"secret": read.view}, read.project_id, read.secret_id, 1, [read.rotated] if read.rotated else [])


async def read_secret(
    *,
    token: str,
    client_ip: str | None,
    query_string: bytes,
    name: str,
    if_none_match: str | None,
    api: ReadApi = V3,
) -> SecretResult:
    """One secret's current value (Python `get_secret_by_name`, Node `getSecret`, Go `Retrieve`, the CLI agent's
    `getSecretByName`)."""
    cache = cache_for(db.engine())
    stamp = cache.stamp()
    principal = await _principal(cache, stamp, token, client_ip)
    query = parse_query_string(
        query_string, missing_project=api.get_missing_project, missing_environment=api.get_missing_environment
    )
    name = name.strip()
    if not name:
        raise ValidationFailure.one(["secretName"], "Secret name required")
    key = ("secret", principal.identity_id, query, name)
    read, _ = await cache.fetch(key, stamp, lambda: (_load_secret(principal, query, name), MAX_AGE_SECONDS))
    if query.view_value:
        metadata = (("secretName", name), ("environment", query.environment), ("secretPath", query.secret_path))
        _count_read(principal, read, "get-secret", metadata)
    return _reply(read, if_none_match)


def _load_list(principal: Principal, query: SecretQuery) -> _Rendered:
    request_caller = caller.for_request(principal)
    with db.unit_of_work() as session:
        project_id, views, rotated = secrets.list_secrets(session, request_caller, query)
    return _rendered({"secrets": views, "imports": []}, project_id, None, len(views), rotated)


async def list_secrets(
    *, token: str, client_ip: str | None, query_string: bytes, if_none_match: str | None, api: ReadApi = V3
) -> SecretResult:
    """The secrets at one path, or under it (Python `list_secrets`, Node `listSecrets`, Go `List`, the CLI, the
    operator). `imports` is always []."""
    cache = cache_for(db.engine())
    stamp = cache.stamp()
    principal = await _principal(cache, stamp, token, client_ip)
    query = parse_query_string(query_string, missing_project=api.list_missing, missing_environment=api.list_missing)
    key = ("list", principal.identity_id, query)
    read, _ = await cache.fetch(key, stamp, lambda: (_load_list(principal, query), MAX_AGE_SECONDS))
    if query.view_value and read.count:
        metadata = (("environment", query.environment), ("secretPath", query.secret_path), ("secretCount", read.count))
        _count_read(principal, read, "get-secrets", metadata)
    return _reply(read, if_none_match)
