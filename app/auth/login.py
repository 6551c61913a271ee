"""Access tokens: universal-auth login, renewal and revocation (identity §6.6–§6.10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import CursorResult, or_, update
from sqlmodel import Session, col, select

from app import clock, metrics
from app.auth import client_secrets, hash_pool, lockout, login_rate, tokens, trusted_ips
from app.auth.admin import is_admin_token
from app.db import unit_of_work
from app.errors import AppError, BadRequest, ForbiddenIp, TooManyRequests, Unauthorized
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
    """Record the failed login (its audit row, its count) and return the error for `login` to raise after its
    commit."""
    metrics.LOGIN_FAILURES.labels(reason).inc()
    audit.record(
        session,
        actor=actor,
        event=LOGIN_EVENT + "-failed",
        resource_type="identity",
        resource_id=actor.removeprefix("identity:") if actor != "anonymous" else None,
        metadata={"clientId": client_id, "reason": reason, "ipAddress": ip},
    )
    return error(message)


def _revoke_secret(session: Session, secret: ClientSecret) -> None:
    session.execute(update(ClientSecret).where(col(ClientSecret.id) == secret.id).values(is_revoked=True))


@dataclass(frozen=True)
class _Refused:
    """An attempt refused before any hash check, its audit row committed. `burn`: spend one check's time first."""

    error: AppError
    burn: bool = False


@dataclass(frozen=True)
class _Reserved:
    """An attempt counted by the lockout, with the hashes of the secrets its value may match (by id)."""

    ua: UniversalAuth
    candidates: list[tuple[str, str]]


async def login(*, client_id: str, client_secret: str, client_ip: str | None) -> tuple[str, UniversalAuth]:
    """Returns the new access token (plaintext, for the response only) and the UA config.

    The rate limits answer first, before any database or hash work. Then three steps, none holding a lock or a
    transaction across another: (1) a short unit of work finds the config, checks the caller's IP and reserves the
    attempt in the lockout counter; (2) the hash check runs on the small hash pool (app.auth.hash_pool), never on
    the threads reads use; (3) a second unit of work records the outcome. Each unit of work is the attempt's own,
    not the request's: a refused login must keep what it recorded (failure counter, lockout, revoked secret, audit
    row) while the client gets its 401, so each commits, then the refusal is raised."""
    try:
        login_rate.check(client_id=client_id, client_ip=client_ip)
    except TooManyRequests:
        metrics.LOGIN_FAILURES.labels("rate-limited").inc()
        raise
    begun = await anyio.to_thread.run_sync(_begin, client_id, client_secret, client_ip)
    if isinstance(begun, _Refused):
        if begun.burn:
            await hash_pool.run(client_secrets.burn_one_check, client_secret)
        raise begun.error
    matched = await hash_pool.run(_match, begun.candidates, client_secret)
    outcome = await anyio.to_thread.run_sync(_finish, begun.ua, matched, client_id, client_ip)
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


def _begin(client_id: str, client_secret: str, client_ip: str | None) -> _Refused | _Reserved:
    with unit_of_work() as session:
        ua = session.exec(select(UniversalAuth).where(UniversalAuth.client_id == client_id)).first()
        if ua is None:
            error = _fail(
                session, INVALID, actor="anonymous", client_id=client_id, reason="unknown-client-id", ip=client_ip
            )
            return _Refused(error, burn=True)
        actor = f"identity:{ua.identity_id}"
        if not trusted_ips.allows(ua.client_secret_trusted_ips, client_ip):
            error = _fail(
                session,
                IP_NOT_ALLOWED,
                actor=actor,
                client_id=client_id,
                reason="ip-not-trusted",
                ip=client_ip,
                error=ForbiddenIp,
            )
            return _Refused(error)
        candidates = session.exec(
            select(ClientSecret).where(
                ClientSecret.ua_id == ua.id,
                ClientSecret.prefix == client_secrets.prefix_of(client_secret),
                col(ClientSecret.is_revoked) == False,  # noqa: E712
            )
        ).all()
        # Last, so the row lock PostgreSQL takes for it is held only until the commit just below.
        if not lockout.reserve(session, ua):
            return _Refused(_fail(session, LOCKED, actor=actor, client_id=client_id, reason="locked", ip=client_ip))
        return _Reserved(ua, [(c.id, c.secret_hash) for c in candidates])


def _match(candidates: list[tuple[str, str]], client_secret: str) -> str | None:
    """The id of the secret whose hash matches, or None; with no candidate, one check's time is spent anyway."""
    if not candidates:
        client_secrets.burn_one_check(client_secret)
        return None
    return next((secret_id for secret_id, hashed in candidates if client_secrets.verify(hashed, client_secret)), None)


def _finish(
    reserved_ua: UniversalAuth, secret_id: str | None, client_id: str, client_ip: str | None
) -> tuple[str, UniversalAuth] | AppError:
    with unit_of_work() as session:
        return _settle(session, reserved_ua, secret_id, client_id=client_id, client_ip=client_ip)


def _settle(
    session: Session, reserved_ua: UniversalAuth, secret_id: str | None, *, client_id: str, client_ip: str | None
) -> tuple[str, UniversalAuth] | AppError:
    """The token and UA config, or the refusal to raise once what the attempt recorded is committed."""
    actor = f"identity:{reserved_ua.identity_id}"
    # Read again: the config or the secret may have been changed or removed while the hash was checked.
    ua = session.get(UniversalAuth, reserved_ua.id)
    secret = session.get(ClientSecret, secret_id) if secret_id is not None else None
    if ua is None or secret is None or secret.is_revoked:
        lockout.settle_failure(session, reserved_ua)
        return _fail(session, INVALID, actor=actor, client_id=client_id, reason="wrong-secret", ip=client_ip)

    lockout.clear(session, ua.id)
    now = clock.now()
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
                col(ClientSecret.is_revoked) == False,  # noqa: E712
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
    """Extends the same token by its TTL (identity §6.9); the caller answers with the same string."""
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
