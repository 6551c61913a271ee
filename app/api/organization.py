"""O1, O2: the single organisation (identity §3.3). Admin token only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.api.deps import CurrentPrincipal, SessionDep
from app.auth.permissions import require_admin
from app.schemas.organization import OrganizationEnvelope, OrganizationList, OrganizationMembership, OrganizationPublic
from app.services import organization as service

router = APIRouter(tags=["organization"])


@router.get("/api/v1/organization", operation_id="listOrganizations")
def list_organizations(session: SessionDep, principal: CurrentPrincipal) -> OrganizationList:
    require_admin(principal, "read", "organization")
    org = service.get_organization(session)
    membership = OrganizationMembership.model_validate(service.organization_public(org, membership=True))
    return OrganizationList(organizations=[membership])


@router.get("/api/v1/organization/{organizationId}", operation_id="getOrganization")
def get_organization(
    organizationId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> OrganizationEnvelope:
    require_admin(principal, "read", "organization")
    org = service.find_organization(session, str(organizationId))
    organization = OrganizationPublic.model_validate(service.organization_public(org, membership=False))
    return OrganizationEnvelope(organization=organization)
