"""Console sessions (issue 15): a random cookie value, stored only as its SHA-256, naming who signed in.

A session grants nothing of its own. The admin's is bound to the admin token in force (a new token ends it);
an identity's holds the access token its universal-auth login issued, by id, and every request authenticates
that token as the API would (expiry, revocation, use limit, trusted IPs), then reads the identity's
memberships afresh. So the console can never do more than the same caller could with curl.

Why a table rather than a signed cookie: sign-out and revocation take effect at once on every process, with no
signing key to manage; the cost is one primary-key read per page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from app import clock
from app.auth import caller, tokens
from app.auth.admin import admin_binding
from app.auth.principal import ADMIN, Principal
from app.db import unit_of_work
from app.errors import ForbiddenIp, Unauthorized
from app.models import AccessToken, ConsoleSession

IDLE = timedelta(hours=12)
# last_seen_at is written at most this often, so reading pages costs no write each time.
TOUCH_EVERY = timedelta(minutes=1)
_CSRF_CONTEXT = b"keyturn-console-csrf"


def _id_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_token(value: str) -> str:
    """The session's CSRF token: derived from the cookie value, so it needs no storage and the database
    cannot reveal it."""
    return hmac.new(value.encode(), _CSRF_CONTEXT, "sha256").hexdigest()


def csrf_matches(value: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(value), given)


def start(*, access_token_id: str | None) -> str:
    """A new session for the admin token (None) or for the access token a login issued; its cookie value."""
    value = secrets.token_urlsafe(32)
    now = clock.now()
    binding = admin_binding(value.encode()) if access_token_id is None else None
    with unit_of_work() as session:
        session.add(
            ConsoleSession(
                id_hash=_id_hash(value),
                access_token_id=access_token_id,
                admin_binding=binding,
                created_at=now,
                last_seen_at=now,
            )
        )
    return value


def start_for_token(token: str) -> str:
    """A new session for the access token a universal-auth login has just issued (its value is then dropped)."""
    with unit_of_work() as session:
        token_id = session.exec(select(AccessToken.id).where(AccessToken.token_hash == tokens.hash_token(token))).one()
    return start(access_token_id=token_id)


def resume(value: str, client_ip: str | None) -> Principal | None:
    """The principal of a live session, or None (unknown, idle for IDLE, or its token no longer valid), in
    which case the session is gone."""
    now = clock.now()
    with unit_of_work() as session:
        row = session.get(ConsoleSession, _id_hash(value))
        if row is None:
            return None
        if now - row.last_seen_at >= IDLE or not _admin_binding_holds(row, value):
            session.delete(row)
            return None
        token_id = row.access_token_id
        if now - row.last_seen_at >= TOUCH_EVERY:
            session.execute(
                update(ConsoleSession).where(col(ConsoleSession.id_hash) == row.id_hash).values(last_seen_at=now)
            )
    if token_id is None:
        return ADMIN
    try:
        principal = caller.authenticate_token_id(token_id, client_ip)
    except (Unauthorized, ForbiddenIp):
        end(value)
        return None
    return caller.for_request(principal)  # with the memberships as they are now


def _admin_binding_holds(row: ConsoleSession, value: str) -> bool:
    if row.access_token_id is not None:
        return True
    current = admin_binding(value.encode())
    return current is not None and row.admin_binding is not None and hmac.compare_digest(current, row.admin_binding)


def end(value: str) -> None:
    """Sign-out: the row is deleted, so the cookie is worthless everywhere at once, and the access token issued
    for the session (nothing else holds it) is revoked."""
    with unit_of_work() as session:
        row = session.get(ConsoleSession, _id_hash(value))
        if row is None:
            return
        session.execute(delete(ConsoleSession).where(col(ConsoleSession.id_hash) == row.id_hash))
        token = session.get(AccessToken, row.access_token_id) if row.access_token_id is not None else None
        if token is not None:
            session.execute(update(AccessToken).where(col(AccessToken.id) == token.id).values(is_revoked=True))
            tokens.invalidate_on_commit(session, token_hash=token.token_hash)
