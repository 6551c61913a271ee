"""Universal auth configs, client secrets and lockouts (identity §6.1–§6.6)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col, select

from app import clock
from app.auth import client_secrets, tokens
from app.auth.principal import Principal
from app.errors import BadRequest, NotFound, ValidationFailure
from app.models import AccessToken, ClientSecret, UniversalAuth
from app.schemas.identities import ClientSecretCreate, UniversalAuthCreate, UniversalAuthUpdate
from app.services.constraints import violation_as
from app.services.identities import get_identity
from app.store import audit

NO_UA = "The identity does not have universal auth"
TTL_ABOVE_MAX = "Access Token TTL cannot be greater than Access Token Max TTL."

# Request field -> column.
_FIELDS = {
    "accessTokenTTL": "access_token_ttl",
    "accessTokenMaxTTL": "access_token_max_ttl",
    "accessTokenNumUsesLimit": "access_token_num_uses_limit",
    "lockoutEnabled": "lockout_enabled",
    "lockoutThreshold": "lockout_threshold",
    "lockoutDurationSeconds": "lockout_duration_seconds",
    "lockoutCounterResetSeconds": "lockout_counter_reset_seconds",
}
_IP_FIELDS = {
    "clientSecretTrustedIps": "client_secret_trusted_ips",
    "accessTokenTrustedIps": "access_token_trusted_ips",
}


def _check_ttls(ua: UniversalAuth) -> None:
    if ua.access_token_ttl > ua.access_token_max_ttl:
        raise ValidationFailure.one(["accessTokenTTL"], TTL_ABOVE_MAX)


def _apply(ua: UniversalAuth, body: UniversalAuthCreate | UniversalAuthUpdate, fields: set[str]) -> None:
    for name, column in _FIELDS.items():
        if name in fields and getattr(body, name) is not None:
            setattr(ua, column, getattr(body, name))
    for name, column in _IP_FIELDS.items():
        if name in fields and getattr(body, name) is not None:
            setattr(ua, column, [{"ipAddress": entry.ipAddress} for entry in getattr(body, name)])


def get_universal_auth(session: Session, identity_id: str) -> UniversalAuth:
    get_identity(session, identity_id)
    ua = session.exec(select(UniversalAuth).where(UniversalAuth.identity_id == identity_id)).first()
    if ua is None:
        raise BadRequest(NO_UA)
    return ua


def attach(session: Session, *, actor: Principal, identity_id: str, body: UniversalAuthCreate) -> UniversalAuth:
    get_identity(session, identity_id)
    if session.exec(select(UniversalAuth.id).where(UniversalAuth.identity_id == identity_id)).first():
        raise BadRequest("Failed to add universal auth to already configured identity")
    now = clock.now()
    ua = UniversalAuth(identity_id=identity_id, created_at=now, updated_at=now)
    _apply(ua, body, set(_FIELDS) | set(_IP_FIELDS))  # every field: the defaults apply
    _check_ttls(ua)
    with violation_as(session, BadRequest("Failed to add universal auth to already configured identity")):
        session.add(ua)
    audit.record(
        session,
        actor=actor,
        event="add-identity-universal-auth",
        resource_type="identity",
        resource_id=identity_id,
        metadata={"clientId": ua.client_id},
    )
    return ua


def update(session: Session, *, actor: Principal, identity_id: str, body: UniversalAuthUpdate) -> UniversalAuth:
    ua = get_universal_auth(session, identity_id)
    _apply(ua, body, body.model_fields_set)
    _check_ttls(ua)
    ua.updated_at = clock.now()
    session.add(ua)
    audit.record(
        session,
        actor=actor,
        event="update-identity-universal-auth",
        resource_type="identity",
        resource_id=identity_id,
        metadata={"fields": sorted(body.model_fields_set)},
    )
    tokens.invalidate_on_commit(session, identity_id=identity_id)  # trusted IPs apply to existing tokens at once
    return ua


def remove(session: Session, *, actor: Principal, identity_id: str) -> UniversalAuth:
    """Removes the config with its client secrets, lockout state and every token issued through it."""
    ua = get_universal_auth(session, identity_id)
    session.execute(delete(AccessToken).where(col(AccessToken.ua_id) == ua.id))
    session.execute(delete(ClientSecret).where(col(ClientSecret.ua_id) == ua.id))
    session.delete(ua)
    audit.record(
        session,
        actor=actor,
        event="revoke-identity-universal-auth",
        resource_type="identity",
        resource_id=identity_id,
        metadata={"clientId": ua.client_id},
    )
    tokens.invalidate_on_commit(session, identity_id=identity_id)
    return ua


# --- client secrets ---------------------------------------------------------------------------------


def create_client_secret(
    session: Session, *, actor: Principal, identity_id: str, body: ClientSecretCreate
) -> tuple[str, ClientSecret]:
    """Returns the plaintext (shown once, never stored) and the row."""
    ua = get_universal_auth(session, identity_id)
    value = client_secrets.generate()
    now = clock.now()
    secret = ClientSecret(
        ua_id=ua.id,
        identity_id=identity_id,
        description=body.description,
        prefix=client_secrets.prefix_of(value),
        secret_hash=client_secrets.hash_secret(value),
        num_uses_limit=body.numUsesLimit,
        ttl=body.ttl,
        created_at=now,
        updated_at=now,
    )
    session.add(secret)
    audit.record(
        session,
        actor=actor,
        event="create-identity-universal-auth-client-secret",
        resource_type="identity",
        resource_id=identity_id,
        metadata={"clientSecretId": secret.id, "clientSecretPrefix": secret.prefix},
    )
    return value, secret


def list_client_secrets(session: Session, identity_id: str) -> list[ClientSecret]:
    ua = get_universal_auth(session, identity_id)
    return list(
        session.exec(
            select(ClientSecret)
            .where(ClientSecret.ua_id == ua.id, col(ClientSecret.is_revoked) == False)  # noqa: E712
            .order_by(col(ClientSecret.created_at).desc(), col(ClientSecret.id))
        ).all()
    )


def get_client_secret(session: Session, identity_id: str, client_secret_id: str) -> ClientSecret:
    ua = get_universal_auth(session, identity_id)
    secret = session.get(ClientSecret, client_secret_id)
    if secret is None or secret.ua_id != ua.id:
        raise NotFound(f"Client secret with ID '{client_secret_id}' not found")
    return secret


def revoke_client_secret(
    session: Session, *, actor: Principal, identity_id: str, client_secret_id: str
) -> ClientSecret:
    """Tokens already issued with the secret stay valid until they expire (identity §6.4)."""
    secret = get_client_secret(session, identity_id, client_secret_id)
    if not secret.is_revoked:
        secret.is_revoked = True
        secret.updated_at = clock.now()
        session.add(secret)
        audit.record(
            session,
            actor=actor,
            event="revoke-identity-universal-auth-client-secret",
            resource_type="identity",
            resource_id=identity_id,
            metadata={"clientSecretId": secret.id, "clientSecretPrefix": secret.prefix},
        )
    return secret


def clear_lockouts(session: Session, *, actor: Principal, identity_id: str) -> int:
    """1 when a lockout record (a lock or a running failure counter) was cleared, else 0."""
    get_identity(session, identity_id)
    ua = session.exec(select(UniversalAuth).where(UniversalAuth.identity_id == identity_id)).first()
    now = clock.now()
    locked = ua is not None and ua.locked_until is not None and now < ua.locked_until
    counting = (
        ua is not None
        and ua.lockout_counter > 0
        and ua.lockout_counter_expires_at is not None
        and now < ua.lockout_counter_expires_at
    )
    if ua is None:
        return 0
    if not (locked or counting):
        if ua.locked_until is not None or ua.lockout_counter:
            ua.locked_until, ua.lockout_counter, ua.lockout_counter_expires_at = None, 0, None
            session.add(ua)
        return 0
    ua.locked_until = None
    ua.lockout_counter = 0
    ua.lockout_counter_expires_at = None
    session.add(ua)
    audit.record(
        session,
        actor=actor,
        event="clear-identity-universal-auth-lockouts",
        resource_type="identity",
        resource_id=identity_id,
    )
    return 1
