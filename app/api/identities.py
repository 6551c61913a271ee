"""I1–I5: machine identities (identity §5). Admin token (or an org-admin identity) only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from app.api.deps import CurrentPrincipal, SessionDep
from app.auth.permissions import require_admin
from app.schemas.identities import IdentityCreate, IdentityUpdate
from app.schemas.identity_responses import (
    IdentityCreated,
    IdentityDetail,
    IdentityEnvelope,
    IdentityList,
    IdentityPublic,
    IdentityWithMetadata,
    identity_created,
    identity_detail,
    identity_list_item,
    identity_public,
    identity_with_metadata,
)
from app.schemas.paging import LIST_CAP, Limit, Offset
from app.services import identities as service
from app.services import organization

router = APIRouter(tags=["identities"])


@router.post("/api/v1/identities", operation_id="createIdentity")
def create_identity(
    body: IdentityCreate, session: SessionDep, principal: CurrentPrincipal
) -> IdentityEnvelope[IdentityCreated]:
    require_admin(principal, "create", "identity")
    org_id = organization.org_id(session)
    identity = service.create_identity(session, actor=principal, body=body)
    return IdentityEnvelope[IdentityCreated](identity=identity_created(identity, org_id))


@router.get("/api/v1/identities", operation_id="listIdentities")
def list_identities(
    session: SessionDep,
    principal: CurrentPrincipal,
    orgId: str | None = Query(default=None),  # accepted and ignored
    offset: Offset = 0,
    limit: Limit = LIST_CAP,
) -> IdentityList:
    """Infisical's I2 has no paging and answers every identity; keyturn answers at most LIST_CAP of them, and
    `offset`/`limit` (an extension) reach the rest. `totalCount` counts them all."""
    require_admin(principal, "read", "identity")
    org_id = organization.org_id(session)
    rows, total = service.list_identities(session, offset=offset, limit=limit)
    items = [identity_list_item(identity, org_id, has_ua=has_ua) for identity, has_ua in rows]
    return IdentityList(identities=items, totalCount=total)


@router.get("/api/v1/identities/{identityId}", operation_id="getIdentity")
def get_identity(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> IdentityEnvelope[IdentityDetail]:
    require_admin(principal, "read", "identity")
    org_id = organization.org_id(session)
    identity = service.get_identity(session, str(identityId))
    ua = service.universal_auth_of(session, identity.id)
    detail = identity_detail(identity, org_id, has_ua=ua is not None, locked=service.is_locked(ua))
    return IdentityEnvelope[IdentityDetail](identity=detail)


@router.patch("/api/v1/identities/{identityId}", operation_id="updateIdentity")
def update_identity(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: IdentityUpdate | None = None
) -> IdentityEnvelope[IdentityWithMetadata]:
    require_admin(principal, "edit", "identity")
    org_id = organization.org_id(session)
    identity = service.update_identity(
        session, actor=principal, identity_id=str(identityId), body=body or IdentityUpdate()
    )
    return IdentityEnvelope[IdentityWithMetadata](identity=identity_with_metadata(identity, org_id))


@router.delete("/api/v1/identities/{identityId}", operation_id="deleteIdentity")
def delete_identity(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> IdentityEnvelope[IdentityPublic]:
    require_admin(principal, "delete", "identity")
    org_id = organization.org_id(session)
    identity = service.delete_identity(session, actor=principal, identity_id=str(identityId))
    return IdentityEnvelope[IdentityPublic](identity=identity_public(identity, org_id))
