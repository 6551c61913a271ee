"""I1–I5: machine identities (identity spec §5). Admin token (or an org-admin identity) only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from app.api.deps import CurrentPrincipal, SessionDep
from app.auth.permissions import require_admin
from app.schemas.identities import IdentityCreate, IdentityUpdate, identity_membership_shaped, identity_public
from app.services import identities as service
from app.services import organization

router = APIRouter(tags=["identities"])


@router.post("/api/v1/identities", operation_id="createIdentity")
def create_identity(body: IdentityCreate, session: SessionDep, principal: CurrentPrincipal) -> dict:
    require_admin(principal, "create", "identity")
    org_id = organization.org_id(session)
    identity = service.create_identity(session, actor=principal, body=body)
    return {"identity": identity_public(identity, org_id, has_ua=False)}


@router.get("/api/v1/identities", operation_id="listIdentities")
def list_identities(
    session: SessionDep, principal: CurrentPrincipal, orgId: str | None = Query(default=None)
) -> dict:  # orgId: accepted and ignored
    require_admin(principal, "read", "identity")
    org_id = organization.org_id(session)
    rows = service.list_identities(session)
    items = [identity_membership_shaped(identity, org_id, has_ua=has_ua, locked=None) for identity, has_ua in rows]
    return {"identities": items, "totalCount": len(items)}


@router.get("/api/v1/identities/{identityId}", operation_id="getIdentity")
def get_identity(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> dict:
    require_admin(principal, "read", "identity")
    org_id = organization.org_id(session)
    identity = service.get_identity(session, str(identityId))
    ua = service.universal_auth_of(session, identity.id)
    return {
        "identity": identity_membership_shaped(identity, org_id, has_ua=ua is not None, locked=service.is_locked(ua))
    }


@router.patch("/api/v1/identities/{identityId}", operation_id="updateIdentity")
def update_identity(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: IdentityUpdate | None = None
) -> dict:
    require_admin(principal, "edit", "identity")
    org_id = organization.org_id(session)
    identity = service.update_identity(
        session, actor=principal, identity_id=str(identityId), body=body or IdentityUpdate()
    )
    return {"identity": identity_public(identity, org_id)}


@router.delete("/api/v1/identities/{identityId}", operation_id="deleteIdentity")
def delete_identity(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> dict:
    require_admin(principal, "delete", "identity")
    org_id = organization.org_id(session)
    identity = service.delete_identity(session, actor=principal, identity_id=str(identityId))
    return {"identity": identity_public(identity, org_id, metadata=False)}
