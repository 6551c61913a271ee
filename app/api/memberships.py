"""M1–M7: project role grants for identities (identity §7). Admin token (or an org-admin identity) only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from app.api.deps import CurrentPrincipal, SessionDep
from app.auth.permissions import require_admin
from app.schemas.identities import MembershipCreate, MembershipUpdate
from app.schemas.membership_responses import (
    MembershipDetail,
    MembershipEnvelope,
    MembershipList,
    MembershipPublic,
    membership_detail,
    membership_list_item,
    membership_public,
)
from app.schemas.paging import Limit, Offset
from app.services import memberships as service
from app.services import organization
from app.services.identities import get_identity, universal_auth_of

router = APIRouter(tags=["memberships"])

PATH = "/api/v1/projects/{projectId}/memberships/identities/{identityId}"


# M1, and its legacy aliases M2 and M3 (identity §7): the same body, the same answer.
@router.post(PATH, operation_id="createIdentityMembership")
@router.post(
    "/api/v2/workspace/{projectId}/identity-memberships/{identityId}", operation_id="createIdentityMembershipLegacyV2"
)
@router.post(
    "/api/v1/projects/{projectId}/identity-memberships/{identityId}", operation_id="createIdentityMembershipLegacyV1"
)
def grant(
    projectId: str,
    identityId: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: MembershipCreate | None = None,
) -> MembershipEnvelope[MembershipPublic]:
    require_admin(principal, "create", "identity")
    membership = service.grant(
        session, actor=principal, project_id=projectId, identity_id=str(identityId), body=body or MembershipCreate()
    )
    return MembershipEnvelope[MembershipPublic](identityMembership=membership_public(membership))


@router.get(PATH, operation_id="getIdentityMembership")
def get_membership(
    projectId: str, identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> MembershipEnvelope[MembershipDetail]:
    require_admin(principal, "read", "identity")
    org_id = organization.org_id(session)
    membership = service.get_membership(session, projectId, str(identityId))
    identity = get_identity(session, membership.identity_id)
    has_ua = universal_auth_of(session, identity.id) is not None
    detail = membership_detail(membership, identity, org_id, has_ua=has_ua)
    return MembershipEnvelope[MembershipDetail](identityMembership=detail)


@router.get("/api/v1/projects/{projectId}/memberships/identities", operation_id="listIdentityMemberships")
def list_memberships(
    projectId: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 20,
    identityName: str | None = Query(default=None),
    roles: str | None = Query(default=None),
) -> MembershipList:
    require_admin(principal, "read", "identity")
    org_id = organization.org_id(session)
    wanted = [r.strip() for r in roles.split(",") if r.strip()] if roles else None
    rows, total = service.list_memberships(
        session, project_id=projectId, offset=offset, limit=limit, identity_name=identityName or None, roles=wanted
    )
    return MembershipList(identityMemberships=[membership_list_item(m, i, org_id) for m, i in rows], totalCount=total)


@router.patch(PATH, operation_id="updateIdentityMembership")
def update_membership(
    projectId: str,
    identityId: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: MembershipUpdate | None = None,
) -> MembershipEnvelope[MembershipPublic]:
    require_admin(principal, "edit", "identity")
    membership = service.update(
        session, actor=principal, project_id=projectId, identity_id=str(identityId), body=body or MembershipUpdate()
    )
    return MembershipEnvelope[MembershipPublic](identityMembership=membership_public(membership))


@router.delete(PATH, operation_id="deleteIdentityMembership")
def remove_membership(
    projectId: str, identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> MembershipEnvelope[MembershipPublic]:
    require_admin(principal, "delete", "identity")
    membership = service.remove(session, actor=principal, project_id=projectId, identity_id=str(identityId))
    return MembershipEnvelope[MembershipPublic](identityMembership=membership_public(membership))
