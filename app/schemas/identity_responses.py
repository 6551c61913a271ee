"""Response objects for identities, universal auth and memberships (identity spec §5–§7); their request bodies are
in app.schemas.identities. Field names and order are Infisical's; constants keep its shape."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import ConfigDict, Field

from app.auth import trusted_ips
from app.models import ClientSecret, Identity, IdentityMembership, UniversalAuth
from app.schemas.fields import ResponseBody
from app.timeutil import iso

T = TypeVar("T")


def auth_methods(has_ua: bool) -> list[str]:
    return ["universal-auth"] if has_ua else []


# --- identities (I1–I5) -------------------------------------------------------------------------


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


def _metadata(identity: Identity) -> list[MetadataPublic]:
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
    return IdentityWithMetadata(**_identity_fields(identity, org_id), metadata=_metadata(identity))


def identity_created(identity: Identity, org_id: str) -> IdentityCreated:
    return IdentityCreated(
        **_identity_fields(identity, org_id), authMethods=auth_methods(False), metadata=_metadata(identity)
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
        metadata=_metadata(identity),
        identity=state,
    )


# --- universal auth (U1–U4, S1–S5, A1–A3) ---------------------------------------------------------


class TrustedIpPublic(ResponseBody):
    """The parsed form: `{"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8}`; one address has no `prefix`."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    ipAddress: str
    type: Literal["ipv4", "ipv6"]
    prefix: int | None = Field(default=None, exclude_if=lambda value: value is None)


class UniversalAuthPublic(ResponseBody):
    id: str
    clientId: str
    accessTokenTTL: int
    accessTokenMaxTTL: int
    accessTokenNumUsesLimit: int
    accessTokenPeriod: int = 0
    clientSecretTrustedIps: list[TrustedIpPublic]
    accessTokenTrustedIps: list[TrustedIpPublic]
    lockoutEnabled: bool
    lockoutThreshold: int
    lockoutDurationSeconds: int
    lockoutCounterResetSeconds: int
    identityId: str
    createdAt: str
    updatedAt: str


class UniversalAuthEnvelope(ResponseBody):
    identityUniversalAuth: UniversalAuthPublic


class ClientSecretPublic(ResponseBody):
    """Exactly these 10 fields: never the hash or the last-used time."""

    id: str
    identityUAId: str
    description: str
    clientSecretPrefix: str
    clientSecretNumUses: int
    clientSecretNumUsesLimit: int
    clientSecretTTL: int
    isClientSecretRevoked: bool
    createdAt: str
    updatedAt: str


class ClientSecretCreated(ResponseBody):
    """S1: the only response that carries the secret itself."""

    clientSecret: str
    clientSecretData: ClientSecretPublic


class ClientSecretEnvelope(ResponseBody, Generic[T]):
    clientSecretData: T


class LockoutsCleared(ResponseBody):
    deleted: int


class AccessToken(ResponseBody):
    """A1 and A2: exactly these four fields (the SDKs need all four, and the TTLs as integers)."""

    accessToken: str
    expiresIn: int
    accessTokenMaxTTL: int
    tokenType: Literal["Bearer"] = "Bearer"


def _trusted_ips(entries: list[dict]) -> list[TrustedIpPublic]:
    return [TrustedIpPublic.model_validate(trusted_ips.describe(entry)) for entry in entries]


def universal_auth_public(ua: UniversalAuth) -> UniversalAuthPublic:
    return UniversalAuthPublic(
        id=ua.id,
        clientId=ua.client_id,
        accessTokenTTL=ua.access_token_ttl,
        accessTokenMaxTTL=ua.access_token_max_ttl,
        accessTokenNumUsesLimit=ua.access_token_num_uses_limit,
        clientSecretTrustedIps=_trusted_ips(ua.client_secret_trusted_ips),
        accessTokenTrustedIps=_trusted_ips(ua.access_token_trusted_ips),
        lockoutEnabled=ua.lockout_enabled,
        lockoutThreshold=ua.lockout_threshold,
        lockoutDurationSeconds=ua.lockout_duration_seconds,
        lockoutCounterResetSeconds=ua.lockout_counter_reset_seconds,
        identityId=ua.identity_id,
        createdAt=iso(ua.created_at),
        updatedAt=iso(ua.updated_at),
    )


def client_secret_public(secret: ClientSecret) -> ClientSecretPublic:
    return ClientSecretPublic(
        id=secret.id,
        identityUAId=secret.ua_id,
        description=secret.description,
        clientSecretPrefix=secret.prefix,
        clientSecretNumUses=secret.num_uses,
        clientSecretNumUsesLimit=secret.num_uses_limit,
        clientSecretTTL=secret.ttl,
        isClientSecretRevoked=secret.is_revoked,
        createdAt=iso(secret.created_at),
        updatedAt=iso(secret.updated_at),
    )


# --- memberships (M1–M7) --------------------------------------------------------------------------


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
            metadata=_metadata(identity),
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
