"""Machine identities (identity §5)."""

from __future__ import annotations

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app import clock
from app.auth import tokens
from app.auth.principal import Principal
from app.errors import BadRequest, NotFound
from app.models import AccessToken, ClientSecret, Identity, IdentityMembership, UniversalAuth
from app.models.base import new_id
from app.schemas.identities import IdentityCreate, IdentityUpdate, MetadataEntry
from app.store import audit


def get_identity(session: Session, identity_id: str) -> Identity:
    identity = session.get(Identity, identity_id)
    if identity is None:
        raise NotFound(f"Failed to find identity with ID '{identity_id}'")
    return identity


def universal_auth_of(session: Session, identity_id: str) -> UniversalAuth | None:
    return session.exec(select(UniversalAuth).where(UniversalAuth.identity_id == identity_id)).first()


def is_locked(ua: UniversalAuth | None) -> bool:
    return bool(ua and ua.lockout_enabled and ua.locked_until and clock.now() < ua.locked_until)


def _metadata(entries: list[MetadataEntry]) -> list[dict]:
    return [{"id": new_id(), "key": entry.key, "value": entry.value} for entry in entries]


def create_identity(session: Session, *, actor: Principal, body: IdentityCreate) -> Identity:
    now = clock.now()
    identity = Identity(
        name=body.name,
        org_role=body.role,
        has_delete_protection=body.hasDeleteProtection,
        metadata_entries=_metadata(body.metadata),
        created_at=now,
        updated_at=now,
    )
    session.add(identity)
    audit.record(
        session,
        actor=actor,
        event="create-identity",
        resource_type="identity",
        resource_id=identity.id,
        metadata={"name": identity.name, "role": identity.org_role},
    )
    return identity


def list_identities(session: Session, *, offset: int, limit: int) -> tuple[list[tuple[Identity, bool]], int]:
    """One page of identities ordered by name, each with whether it has universal auth, and the count of all."""
    total = session.exec(select(func.count()).select_from(Identity)).one()
    rows = session.exec(
        select(Identity, UniversalAuth.id)
        .join(UniversalAuth, col(UniversalAuth.identity_id) == Identity.id, isouter=True)
        .order_by(col(Identity.name), col(Identity.created_at), col(Identity.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return [(identity, ua_id is not None) for identity, ua_id in rows], total


def update_identity(session: Session, *, actor: Principal, identity_id: str, body: IdentityUpdate) -> Identity:
    identity = get_identity(session, identity_id)
    changed = body.model_fields_set
    if "name" in changed and body.name is not None:
        identity.name = body.name
    if "role" in changed and body.role is not None:
        identity.org_role = body.role
    if "hasDeleteProtection" in changed and body.hasDeleteProtection is not None:
        identity.has_delete_protection = body.hasDeleteProtection
    if "metadata" in changed and body.metadata is not None:
        identity.metadata_entries = _metadata(body.metadata)
    identity.updated_at = clock.now()
    session.add(identity)
    audit.record(
        session,
        actor=actor,
        event="update-identity",
        resource_type="identity",
        resource_id=identity.id,
        metadata={"fields": sorted(changed)},
    )
    tokens.invalidate_on_commit(session, identity_id=identity.id)  # the organisation role may have changed
    return identity


def delete_identity(session: Session, *, actor: Principal, identity_id: str) -> Identity:
    """Deletes the identity with its tokens, client secrets, UA config (and lockout) and memberships, in one
    transaction. Explicit deletes rather than relying on ON DELETE CASCADE alone."""
    identity = get_identity(session, identity_id)
    if identity.has_delete_protection:
        raise BadRequest("Identity has delete protection")
    for table in (AccessToken, ClientSecret, UniversalAuth, IdentityMembership):
        session.execute(delete(table).where(col(table.identity_id) == identity.id))
    session.delete(identity)
    audit.record(
        session,
        actor=actor,
        event="delete-identity",
        resource_type="identity",
        resource_id=identity.id,
        metadata={"name": identity.name},
    )
    tokens.invalidate_on_commit(session, identity_id=identity.id)
    return identity
