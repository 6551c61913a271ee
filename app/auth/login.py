"""Access tokens: universal-auth login, renewal and revocation (identity spec §6.6–§6.10)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, inspect, literal, or_, update
from sqlmodel import Session, col, select

from app import clock
from app.auth import client_secrets, tokens, trusted_ips
from app.auth.admin import is_admin_token
from app.db import unit_of_work
from app.errors import AppError, BadRequest, ForbiddenIp, Unauthorized
from app.models import AccessToken, ClientSecret, Identity, UniversalAuth
from app.store import audit

INVALID = "Invalid credentials"
LOCKED = "This identity auth method is temporarily locked, please try again later"
SECRET_EXPIRED = "Access denied due to expired client secret"
SECRET_USED_UP = "Access denied due to client secret usage limit reached"
IP_NOT_ALLOWED = "You are not allowed to access this resource from the current IP address"
LOGIN_EVENT = "login-identity-universal-auth"


def _fail(
    session: Session,
    message: str,
    *,
    actor: str,
    client_id: str,
    reason: str,
    ip: str | None,
    error: type[AppError] = Unauthorized,
) -> AppError:
    """Record the failed login (its audit row) and return the error for `login` to raise after its commit."""
    audit.record(
        session,
        actor=actor,
        event=LOGIN_EVENT + "-failed",
        resource_type="identity",
        resource_id=actor.removeprefix("identity:") if actor != "anonymous" else None,
        metadata={"clientId": client_id, "reason": reason, "ipAddress": ip},
    )
    return error(message)


def _count_failure(session: Session, ua: UniversalAuth) -> None:
    """One atomic statement: reset an expired counter, add 1, and lock when the threshold is reached."""
    now = clock.now()
    expires_at = col(UniversalAuth.lockout_counter_expires_at)
    locked_until = col(UniversalAuth.locked_until)
    new_count = case(
        (or_(expires_at.is_(None), expires_at <= now), 1),
        else_=col(UniversalAuth.lockout_counter) + 1,
    )
    reached = new_count >= UniversalAuth.lockout_threshold
    moment = inspect(UniversalAuth).columns["locked_until"].type  # the column's own type binds the value
    lock_until = literal(now + timedelta(seconds=ua.lockout_duration_seconds), type_=moment)
    reset_at = literal(now + timedelta(seconds=ua.lockout_counter_reset_seconds), type_=moment)
    session.execute(
        update(UniversalAuth)
        .where(col(UniversalAuth.id) == ua.id)
        .values(
            locked_until=case((reached, lock_until), else_=locked_until),
            lockout_counter=case((reached, 0), else_=new_count),
            lockout_counter_expires_at=case((reached, None), else_=reset_at),
        )
    )


def _revoke_secret(session: Session, secret: ClientSecret) -> None:
    session.execute(update(ClientSecret).where(col(ClientSecret.id) == secret.id).values(is_revoked=True))


def login(*, client_id: str, client_secret: str, client_ip: str | None) -> tuple[str, UniversalAuth]:
    """Returns the new access token (plaintext, for the response only) and the UA config.

    The attempt is its own unit of work, not the request's: the request session rolls back when the handler
    raises, and a refused login must still keep what it recorded (failure counter, lockout, revoked secret,
    audit row) while the client gets its 401. So the attempt commits its outcome, then raises the refusal."""
    with unit_of_work() as session:
        outcome = _attempt(session, client_id=client_id, client_secret=client_secret, client_ip=client_ip)
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


def _attempt(
    session: Session, *, client_id: str, client_secret: str, client_ip: str | None
) -> tuple[str, UniversalAuth] | AppError:
    """The token and UA config, or the refusal to raise once what the attempt recorded is committed."""
    ua = session.exec(select(UniversalAuth).where(UniversalAuth.client_id == client_id)).first()
    if ua is None:
        client_secrets.burn_one_check(client_secret)
        return _fail(session, INVALID, actor="anonymous", client_id=client_id, reason="unknown-client-id", ip=client_ip)
    actor = f"identity:{ua.identity_id}"
    if not trusted_ips.allows(ua.client_secret_trusted_ips, client_ip):
        return _fail(
            session,
            IP_NOT_ALLOWED,
            actor=actor,
            client_id=client_id,
            reason="ip-not-trusted",
            ip=client_ip,
            error=ForbiddenIp,
        )
    now = clock.now()
    if ua.lockout_enabled and ua.locked_until is not None and now < ua.locked_until:
        return _fail(session, LOCKED, actor=actor, client_id=client_id, reason="locked", ip=client_ip)

    candidates = session.exec(
        select(ClientSecret).where(
            ClientSecret.ua_id == ua.id,
            ClientSecret.prefix == client_secrets.prefix_of(client_secret),
            col(ClientSecret.is_revoked) == False,  # noqa: E712
        )
    ).all()
    secret = next((c for c in candidates if client_secrets.verify(c.secret_hash, client_secret)), None)
    if secret is None:
        if not candidates:
            client_secrets.burn_one_check(client_secret)
        if ua.lockout_enabled:
            _count_failure(session, ua)
        return _fail(session, INVALID, actor=actor, client_id=client_id, reason="wrong-secret", ip=client_ip)

    if ua.lockout_counter or ua.locked_until is not None:
        session.execute(
            update(UniversalAuth)
            .where(col(UniversalAuth.id) == ua.id)
            .values(lockout_counter=0, lockout_counter_expires_at=None, locked_until=None)
        )
    if secret.ttl > 0 and now >= secret.created_at + timedelta(seconds=secret.ttl):
        _revoke_secret(session, secret)
        return _fail(session, SECRET_EXPIRED, actor=actor, client_id=client_id, reason="secret-expired", ip=client_ip)
    # Conditional increment: of two parallel logins only one can take the last allowed use.
    taken = cast(
        CursorResult[Any],
        session.execute(
            update(ClientSecret)
            .where(
                col(ClientSecret.id) == secret.id,
                or_(col(ClientSecret.num_uses_limit) == 0, col(ClientSecret.num_uses) < ClientSecret.num_uses_limit),
            )
            .values(num_uses=col(ClientSecret.num_uses) + 1, last_used_at=now)
        ),
    ).rowcount
    if not taken:
        _revoke_secret(session, secret)
        return _fail(session, SECRET_USED_UP, actor=actor, client_id=client_id, reason="secret-used-up", ip=client_ip)

    token = tokens.new_token()
    session.add(
        AccessToken(
            token_hash=tokens.hash_token(token),
            identity_id=ua.identity_id,
            ua_id=ua.id,
            client_secret_id=secret.id,
            ttl=ua.access_token_ttl,
            max_ttl=ua.access_token_max_ttl,
            num_uses_limit=ua.access_token_num_uses_limit,
            created_at=now,
        )
    )
    session.execute(
        update(Identity)
        .where(col(Identity.id) == ua.identity_id)
        .values(last_login_auth_method="universal-auth", last_login_time=now)
    )
    audit.record(
        session,
        actor=actor,
        event=LOGIN_EVENT,
        resource_type="identity",
        resource_id=ua.identity_id,
        metadata={"clientId": client_id, "clientSecretId": secret.id, "ipAddress": client_ip},
    )
    return token, ua


def _token_row(session: Session, token: str) -> AccessToken | None:
    row = session.exec(select(AccessToken).where(AccessToken.token_hash == tokens.hash_token(token))).first()
    return None if row is None or row.is_revoked else row


def renew(session: Session, *, token: str) -> AccessToken:
    """Extends the same token by its TTL (§6.9); the caller answers with the same string."""
    if is_admin_token(token):
        raise BadRequest("Only identity access tokens can be renewed")
    row = _token_row(session, token)
    if row is None:
        raise Unauthorized(tokens.NOT_FOUND)
    if row.num_uses_limit > 0 and row.num_uses >= row.num_uses_limit:
        raise Unauthorized("Unable to renew because access token number of uses limit reached")
    now = clock.now()
    max_end = row.created_at + timedelta(seconds=row.max_ttl)
    if now >= (row.last_renewed_at or row.created_at) + timedelta(seconds=row.ttl):
        raise Unauthorized("Failed to renew MI access token due to TTL expiration")
    if now >= max_end:
        raise Unauthorized("Failed to renew MI access token due to Max TTL expiration")
    if now + timedelta(seconds=row.ttl) > max_end:
        raise Unauthorized("Failed to renew MI access token as it would extend past its Max TTL")
    row.last_renewed_at = now
    session.add(row)
    audit.record(
        session,
        actor=f"identity:{row.identity_id}",
        event="renew-identity-access-token",
        resource_type="identity",
        resource_id=row.identity_id,
        metadata={"tokenId": row.id},
    )
    return row


def revoke(session: Session, *, token: str) -> None:
    if is_admin_token(token):
        raise Unauthorized("Only identity access tokens can be revoked")
    row = _token_row(session, token)
    if row is None:
        raise Unauthorized(tokens.NOT_FOUND)
    row.is_revoked = True
    session.add(row)
    audit.record(
        session,
        actor=f"identity:{row.identity_id}",
        event="revoke-identity-access-token",
        resource_type="identity",
        resource_id=row.identity_id,
        metadata={"tokenId": row.id},
    )
    tokens.invalidate_on_commit(session, token_hash=row.token_hash)
