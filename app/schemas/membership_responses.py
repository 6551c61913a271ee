"""Response objects for identities' project memberships (M1–M7, identity §7), with keyturn's `scope`
extension. Their request bodies are in app.schemas.identities."""

from __future__ import annotations

from typing import Generic, TypeVar

from app.models import Identity, IdentityMembership
from app.schemas.fields import ResponseBody
from app.schemas.identity_responses import MetadataPublic, auth_methods, metadata_public
from app.timeutil import iso

T = TypeVar("T")


class ScopePublic(ResponseBody):
    """keyturn's extension: null means "all"."""

    environments: list[str] | None
    secretPaths: list[str] | None


class RolePublic(ResponseBody):
    """Custom and temporary roles do not exist in keyturn; their fields keep Infisical's shape."""

    id: str
    role: str
    customRoleId: None = None
    customRoleName: None = None
    customRoleSlug: None = None
    isTemporary: bool = False
    temporaryMode: None = None
    temporaryRange: None = None
    temporaryAccessStartTime: None = None
    temporaryAccessEndTime: None = None


class MembershipPublic(ResponseBody):
    """M1–M3, M6, M7."""

    id: str
    projectId: str
    identityId: str
    createdAt: str
    updatedAt: str
    scope: ScopePublic | None


class MemberIdentity(ResponseBody):
    """The inner `identity` of M5's items."""

    id: str
    name: str
    orgId: str
    projectId: None = None


class MemberIdentityDetail(MemberIdentity):
    """The inner `identity` of M4."""

    authMethods: list[str]
    metadata: list[MetadataPublic]


class MembershipDetail(ResponseBody):
    """M4."""

    id: str
    createdAt: str
    updatedAt: str
    roles: list[RolePublic]
    lastLoginAuthMethod: str | None
    lastLoginTime: str | None
    identity: MemberIdentityDetail
    scope: ScopePublic | None


class MembershipListItem(ResponseBody):
    """M5's items."""

    id: str
    identityId: str
    createdAt: str
    updatedAt: str
    roles: list[RolePublic]
    identity: MemberIdentity
    scope: ScopePublic | None


class MembershipEnvelope(ResponseBody, Generic[T]):
    identityMembership: T


class MembershipList(ResponseBody):
    identityMemberships: list[MembershipListItem]
    totalCount: int


def _scope(membership: IdentityMembership) -> ScopePublic | None:
    return ScopePublic.model_validate(membership.scope) if membership.scope else None


def _roles(membership: IdentityMembership) -> list[RolePublic]:
    return [RolePublic(id=entry["id"], role=entry["role"]) for entry in membership.roles]


def membership_public(membership: IdentityMembership) -> MembershipPublic:
    return MembershipPublic(
        id=membership.id,
        projectId=membership.project_id,
        identityId=membership.identity_id,
        createdAt=iso(membership.created_at),
        updatedAt=iso(membership.updated_at),
        scope=_scope(membership),
    )


def membership_detail(
    membership: IdentityMembership, identity: Identity, org_id: str, *, has_ua: bool
) -> MembershipDetail:
    return MembershipDetail(
        id=membership.id,
        createdAt=iso(membership.created_at),
        updatedAt=iso(membership.updated_at),
        roles=_roles(membership),
        lastLoginAuthMethod=identity.last_login_auth_method,
        lastLoginTime=iso(identity.last_login_time),
        identity=MemberIdentityDetail(
            id=identity.id,
            name=identity.name,
            orgId=org_id,
            authMethods=auth_methods(has_ua),
            metadata=metadata_public(identity),
        ),
        scope=_scope(membership),
    )


def membership_list_item(membership: IdentityMembership, identity: Identity, org_id: str) -> MembershipListItem:
    return MembershipListItem(
        id=membership.id,
        identityId=membership.identity_id,
        createdAt=iso(membership.created_at),
        updatedAt=iso(membership.updated_at),
        roles=_roles(membership),
        identity=MemberIdentity(id=identity.id, name=identity.name, orgId=org_id),
        scope=_scope(membership),
    )
