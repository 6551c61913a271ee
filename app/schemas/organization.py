"""The single organisation's response objects (O1, O2; identity §3.3)."""

from __future__ import annotations

from app.schemas.fields import ResponseBody


class OrganizationPublic(ResponseBody):
    """O2. Infisical's object has more fields (SSO, MFA, billing); clients ignore the ones they miss."""

    id: str
    name: str
    slug: str
    customerId: None = None
    createdAt: str
    updatedAt: str
    authEnforced: bool = False
    scimEnabled: bool = False
    kmsDefaultKeyId: None = None
    enforceMfa: bool = False


class OrganizationMembership(OrganizationPublic):
    """O1's items: the organisation and how the caller (the admin token) belongs to it."""

    orgAuthMethod: str
    userRole: str
    userJoinedAt: str


class OrganizationEnvelope(ResponseBody):
    organization: OrganizationPublic


class OrganizationList(ResponseBody):
    organizations: list[OrganizationMembership]
