"""Response objects for machine identities (I1–I5, identity §5); their request bodies are in
app.schemas.identities. Field names and order are Infisical's; constants keep its shape."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from app.models import Identity
from app.schemas.fields import ResponseBody
from app.timeutil import iso

T = TypeVar("T")


def auth_methods(has_ua: bool) -> list[str]:
    return ["universal-auth"] if has_ua else []


class MetadataPublic(ResponseBody):
    id: str
    key: str
    value: str


class IdentityPublic(ResponseBody):
    """I5, as it was before deletion. `authMethod` is a legacy column; keyturn has no project-scoped identities."""

    id: str
    name: str
    authMethod: None = None
    createdAt: str
    updatedAt: str
    hasDeleteProtection: bool
    orgId: str
    projectId: None = None


class IdentityWithMetadata(IdentityPublic):
    """I4."""

    metadata: list[MetadataPublic]


class IdentityCreated(IdentityPublic):
    """I1: Universal Auth is never attached yet, so `authMethods` is `[]`."""

    authMethods: list[str]
    metadata: list[MetadataPublic]


class IdentitySummary(ResponseBody):
    """The inner `identity` of I2's items."""

    id: str
    name: str
    hasDeleteProtection: bool
    authMethods: list[str]


class IdentityState(ResponseBody):
    """The inner `identity` of I3, with the auth methods now locked out."""

    id: str
    name: str
    hasDeleteProtection: bool
    orgId: str
    authMethods: list[str]
    activeLockoutAuthMethods: list[str]


class _OrgMembership(ResponseBody):
    """I2 and I3 are shaped as Infisical's organisation membership: ⚠ `id` is the membership id, and the
    identity's own id is `identityId`."""

    id: str
    identityId: str
    role: str
    roleId: None = None
    orgId: str
    createdAt: str
    updatedAt: str


class IdentityListItem(_OrgMembership):
    """I2's items."""

    identity: IdentitySummary


class IdentityDetail(_OrgMembership):
    """I3."""

    lastLoginAuthMethod: str | None
    lastLoginTime: str | None
    metadata: list[MetadataPublic]
    identity: IdentityState


class IdentityEnvelope(ResponseBody, Generic[T]):
    identity: T


class IdentityList(ResponseBody):
    identities: list[IdentityListItem]
    totalCount: int


def metadata_public(identity: Identity) -> list[MetadataPublic]:
    return [MetadataPublic.model_validate(entry) for entry in identity.metadata_entries or []]


def _identity_fields(identity: Identity, org_id: str) -> dict[str, Any]:
    return {
        "id": identity.id,
        "name": identity.name,
        "createdAt": iso(identity.created_at),
        "updatedAt": iso(identity.updated_at),
        "hasDeleteProtection": identity.has_delete_protection,
        "orgId": org_id,
    }


def identity_public(identity: Identity, org_id: str) -> IdentityPublic:
    return IdentityPublic(**_identity_fields(identity, org_id))


def identity_with_metadata(identity: Identity, org_id: str) -> IdentityWithMetadata:
    return IdentityWithMetadata(**_identity_fields(identity, org_id), metadata=metadata_public(identity))


def identity_created(identity: Identity, org_id: str) -> IdentityCreated:
    return IdentityCreated(
        **_identity_fields(identity, org_id), authMethods=auth_methods(False), metadata=metadata_public(identity)
    )


def _org_membership_fields(identity: Identity, org_id: str) -> dict[str, Any]:
    return {
        "id": identity.org_membership_id,
        "identityId": identity.id,
        "role": identity.org_role,
        "orgId": org_id,
        "createdAt": iso(identity.created_at),
        "updatedAt": iso(identity.updated_at),
    }


def identity_list_item(identity: Identity, org_id: str, *, has_ua: bool) -> IdentityListItem:
    summary = IdentitySummary(
        id=identity.id,
        name=identity.name,
        hasDeleteProtection=identity.has_delete_protection,
        authMethods=auth_methods(has_ua),
    )
    return IdentityListItem(**_org_membership_fields(identity, org_id), identity=summary)


def identity_detail(identity: Identity, org_id: str, *, has_ua: bool, locked: bool) -> IdentityDetail:
    state = IdentityState(
        id=identity.id,
        name=identity.name,
        hasDeleteProtection=identity.has_delete_protection,
        orgId=org_id,
        authMethods=auth_methods(has_ua),
        activeLockoutAuthMethods=["universal-auth"] if locked else [],
    )
    return IdentityDetail(
        **_org_membership_fields(identity, org_id),
        lastLoginAuthMethod=identity.last_login_auth_method,
        lastLoginTime=iso(identity.last_login_time),
        metadata=metadata_public(identity),
        identity=state,
    )
