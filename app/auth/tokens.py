"""Identity access tokens: opaque random strings, stored only as their SHA-256.

`authenticate(token)` is the hot read path: one indexed lookup by token hash (joined to its UA config
and identity), plus one conditional update only for tokens with a use limit. It runs in its own short unit of
work, so a cache can wrap it. Such a cache must:
  - never cache a Principal whose `uses_limited` is true (each use is counted exactly);
  - drop an entry once `expires_at` passes;
  - be invalidated (or expire within 5 s, on every replica) when `invalidate()` is called: token revoke,
    UA removal or update (trusted IPs), identity deletion or update (organisation role).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, event, update
from sqlmodel import Session, col, select

from app import clock
from app.auth.admin import is_admin_token
from app.auth.principal import ADMIN, Principal
from app.db import unit_of_work
from app.errors import Unauthorized
from app.models import AccessToken, Identity, UniversalAuth

NOT_FOUND = "No identity access token found"
EXPIRED = "Identity access token has expired"
USES_EXHAUSTED = "Identity access token number of uses limit reached"


def new_token() -> str:
    """32 random bytes, URL-safe base64 without padding (43 characters); never starts with `st.`."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def expires_at(row: AccessToken) -> datetime:
    start = row.last_renewed_at or row.created_at
    return min(start + timedelta(seconds=row.ttl), row.created_at + timedelta(seconds=row.max_ttl))


def _joined():
    """A token row with what a Principal needs from its UA config and identity."""
    return (
        select(AccessToken, UniversalAuth.access_token_trusted_ips, Identity.org_role)
        .join(UniversalAuth, col(UniversalAuth.id) == AccessToken.ua_id)
        .join(Identity, col(Identity.id) == AccessToken.identity_id)
    )


def _principal(row: AccessToken, trusted_ips: list | None, org_role: str) -> Principal:
    """The caller a token row stands for, or Unauthorized when it is revoked or expired."""
    if row.is_revoked:
        raise Unauthorized(NOT_FOUND)
    expiry = expires_at(row)
    if clock.now() >= expiry:
        raise Unauthorized(EXPIRED)
    return Principal(
        identity_id=row.identity_id,
        token_id=row.id,
        org_admin=org_role == "admin",
        expires_at=expiry,
        trusted_ips=tuple(trusted_ips or ()),
        uses_limited=row.num_uses_limit > 0,
    )


def authenticate(token: str) -> Principal:
    """The caller for a bearer token, or Unauthorized with the identity §2.2 message. IPs are checked by the caller."""
    if is_admin_token(token):
        return ADMIN
    return _authenticate(col(AccessToken.token_hash) == hash_token(token))


def authenticate_id(token_id: str) -> Principal:
    """As `authenticate`, for the access token a console session holds by id (app.auth.console_sessions): the
    same expiry, revocation and use-limit rules, so a session never outlives or outreaches its token."""
    return _authenticate(col(AccessToken.id) == token_id)


def _authenticate(which: ColumnElement[bool]) -> Principal:
    with unit_of_work() as session:
        found = session.exec(_joined().where(which)).first()
        if found is None:
            raise Unauthorized(NOT_FOUND)
        principal = _principal(*found)
        if principal.uses_limited:
            # One conditional statement, so parallel requests cannot overspend the limit.
            result = cast(
                CursorResult[Any],
                session.execute(
                    update(AccessToken)
                    .where(col(AccessToken.id) == found[0].id, col(AccessToken.num_uses) < AccessToken.num_uses_limit)
                    .values(num_uses=col(AccessToken.num_uses) + 1)
                ),
            )
            if result.rowcount == 0:
                raise Unauthorized(USES_EXHAUSTED)
        return principal


def recheck(token_ids: Collection[str]) -> dict[str, Principal | Unauthorized]:
    """What `authenticate` would answer now for each of these tokens (by id), in one query, spending no use: a
    long-lived stream re-checks the token it was opened with. A token that no longer exists maps to its 401."""
    if not token_ids:
        return {}
    answers: dict[str, Principal | Unauthorized] = {token_id: Unauthorized(NOT_FOUND) for token_id in token_ids}
    with unit_of_work() as session:
        for row, trusted_ips, org_role in session.exec(_joined().where(col(AccessToken.id).in_(list(token_ids)))):
            try:
                answers[row.id] = _principal(row, trusted_ips, org_role)
            except Unauthorized as refused:
                answers[row.id] = refused
    return answers


# --- cache invalidation hook ------------------------------------------------------------------------

_listeners: list[Callable[..., None]] = []


def on_invalidate(listener: Callable[..., None]) -> None:
    """Register a cache's invalidation callback: called as listener(identity_id=..., token_hash=...)."""
    _listeners.append(listener)


def invalidate(*, identity_id: str | None = None, token_hash: str | None = None) -> None:
    """Every write that can end or narrow a token's access calls this (after its commit)."""
    for listener in list(_listeners):
        listener(identity_id=identity_id, token_hash=token_hash)


def invalidate_on_commit(session: Session, *, identity_id: str | None = None, token_hash: str | None = None) -> None:
    """`invalidate` once `session` commits (nothing if it rolls back). Not before: a request filling a cache in
    between would read, and keep, the state the write is about to replace."""
    event.listen(
        session, "after_commit", lambda _session: invalidate(identity_id=identity_id, token_hash=token_hash), once=True
    )
