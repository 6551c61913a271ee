"""Request bodies and response objects for identities, universal auth and memberships (identity spec §5–§7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, field_validator
from pydantic_core import PydanticCustomError

from app.auth import trusted_ips
from app.auth.roles import ROLES
from app.auth.scope import validate_glob
from app.models import ClientSecret, Identity, IdentityMembership, UniversalAuth
from app.schemas.fields import RequestBody, slug_rule, trimmed
from app.timeutil import iso

MAX_SECONDS = 315360000


# --- identities ---------------------------------------------------------------------------------

OrgRole = Literal["admin", "member", "no-access"]


class MetadataEntry(RequestBody):
    key: Annotated[str, trimmed(1, 256)]
    value: Annotated[str, trimmed(1, 256)]


class IdentityCreate(RequestBody):
    name: Annotated[str, trimmed(1, 64)]
    organizationId: str | None = None  # accepted and ignored (§3.2)
    role: OrgRole = "no-access"
    hasDeleteProtection: StrictBool = False
    metadata: Annotated[list[MetadataEntry], Field(max_length=50)] = []  # noqa: RUF012 - pydantic copies defaults


class IdentityUpdate(RequestBody):
    name: Annotated[str, trimmed(1, 64)] | None = None
    role: OrgRole | None = None
    hasDeleteProtection: StrictBool | None = None
    metadata: Annotated[list[MetadataEntry], Field(max_length=50)] | None = None


# --- universal auth -----------------------------------------------------------------------------


class TrustedIp(RequestBody):
    ipAddress: str

    @field_validator("ipAddress")
    @classmethod
    def _valid(cls, value: str) -> str:
        trusted_ips.parse_network(value)
        return value.strip()


TrustedIps = Annotated[list[TrustedIp], Field(min_length=1)]
Ttl = Annotated[StrictInt, Field(ge=1, le=MAX_SECONDS)]


class _UAFields(RequestBody):
    @field_validator("accessTokenPeriod", check_fields=False)
    @classmethod
    def _no_periodic(cls, value: int | None) -> int | None:
        if value:
            raise ValueError("Periodic access tokens are not supported by keyturn")
        return value


class UniversalAuthCreate(_UAFields):
    accessTokenTTL: Ttl = 2592000
    accessTokenMaxTTL: Ttl = 2592000
    accessTokenNumUsesLimit: Annotated[StrictInt, Field(ge=0)] = 0
    accessTokenPeriod: Annotated[StrictInt, Field(ge=0)] = 0
    clientSecretTrustedIps: TrustedIps = Field(default_factory=lambda: [TrustedIp(**e) for e in trusted_ips.ANYWHERE])
    accessTokenTrustedIps: TrustedIps = Field(default_factory=lambda: [TrustedIp(**e) for e in trusted_ips.ANYWHERE])
    lockoutEnabled: StrictBool = True
    lockoutThreshold: Annotated[StrictInt, Field(ge=1, le=30)] = 3
    lockoutDurationSeconds: Annotated[StrictInt, Field(ge=30, le=86400)] = 300
    lockoutCounterResetSeconds: Annotated[StrictInt, Field(ge=5, le=3600)] = 30


class UniversalAuthUpdate(_UAFields):
    """Only the fields sent change (no defaults)."""

    accessTokenTTL: Ttl | None = None
    accessTokenMaxTTL: Ttl | None = None
    accessTokenNumUsesLimit: Annotated[StrictInt, Field(ge=0)] | None = None
    accessTokenPeriod: Annotated[StrictInt, Field(ge=0)] | None = None
    clientSecretTrustedIps: TrustedIps | None = None
    accessTokenTrustedIps: TrustedIps | None = None
    lockoutEnabled: StrictBool | None = None
    lockoutThreshold: Annotated[StrictInt, Field(ge=1, le=30)] | None = None
    lockoutDurationSeconds: Annotated[StrictInt, Field(ge=30, le=86400)] | None = None
    lockoutCounterResetSeconds: Annotated[StrictInt, Field(ge=5, le=3600)] | None = None


class ClientSecretCreate(RequestBody):
    description: Annotated[str, trimmed(0, 256)] = ""
    numUsesLimit: Annotated[StrictInt, Field(ge=0)] = 0
    ttl: Annotated[StrictInt, Field(ge=0, le=MAX_SECONDS)] = 0


class LoginBody(RequestBody):
    clientId: Annotated[str, trimmed(1, 255)]
    clientSecret: Annotated[str, trimmed(1, 1024)]
    organizationSlug: str | None = None  # accepted and ignored
    subOrganizationName: str | None = None  # accepted and ignored


class AccessTokenBody(RequestBody):
    accessToken: Annotated[str, trimmed(1, 4096)]


# --- memberships --------------------------------------------------------------------------------


def _role_slug(value: str) -> str:
    if value not in ROLES:
        raise PydanticCustomError(
            "invalid_enum_value", "Invalid role '{role}'. Expected admin, member, viewer or no-access", {"role": value}
        )
    return value


RoleSlug = Annotated[str, AfterValidator(_role_slug)]


class RoleEntry(RequestBody):
    role: RoleSlug
    isTemporary: StrictBool = False

    @field_validator("isTemporary")
    @classmethod
    def _not_temporary(cls, value: bool) -> bool:
        if value:
            raise ValueError("Temporary roles are not supported by keyturn")
        return value


def _glob(value: str) -> str:
    return validate_glob(value)


ScopeEnvironment = Annotated[str, slug_rule("Environment", 1, 64)]
ScopeGlob = Annotated[str, AfterValidator(_glob)]


class Scope(RequestBody):
    """Absent or null fields mean "all"; an empty list is refused as ambiguous (§8.3)."""

    environments: Annotated[list[ScopeEnvironment], Field(min_length=1, max_length=20)] | None = None
    secretPaths: Annotated[list[ScopeGlob], Field(min_length=1, max_length=20)] | None = None

    def stored(self) -> dict | None:
        """`{}` and all-null mean no scope."""
        if self.environments is None and self.secretPaths is None:
            return None
        return {"environments": self.environments, "secretPaths": self.secretPaths}


class MembershipCreate(RequestBody):
    roles: Annotated[list[RoleEntry], Field(min_length=1, max_length=4)] | None = None
    role: RoleSlug = "no-access"  # the legacy single-role form, used only when `roles` is absent
    scope: Scope | None = None

    def role_slugs(self) -> list[str]:
        if self.roles is not None:
            return _distinct(entry.role for entry in self.roles)
        return [self.role]


class MembershipUpdate(RequestBody):
    roles: Annotated[list[RoleEntry], Field(min_length=1, max_length=4)] | None = None
    scope: Scope | None = None

    def role_slugs(self) -> list[str] | None:
        return None if self.roles is None else _distinct(entry.role for entry in self.roles)


def _distinct(values) -> list[str]:
    out: list[str] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


# --- response objects ---------------------------------------------------------------------------


def auth_methods(has_ua: bool) -> list[str]:
    return ["universal-auth"] if has_ua else []


def identity_public(identity: Identity, org_id: str, *, has_ua: bool | None = None, metadata: bool = True) -> dict:
    """I1 (with `has_ua`), I4 (metadata, no authMethods) and I5 (neither)."""
    body: dict[str, Any] = {
        "id": identity.id,
        "name": identity.name,
        "authMethod": None,
        "createdAt": iso(identity.created_at),
        "updatedAt": iso(identity.updated_at),
        "hasDeleteProtection": identity.has_delete_protection,
        "orgId": org_id,
        "projectId": None,
    }
    if has_ua is not None:
        body["authMethods"] = auth_methods(has_ua)
    if metadata:
        body["metadata"] = list(identity.metadata_entries or [])
    return body


def identity_membership_shaped(identity: Identity, org_id: str, *, has_ua: bool, locked: bool | None) -> dict:
    """I3 (with `locked`) and I2 items (`locked=None`): the top-level id is the organisation membership id ⚠."""
    inner: dict[str, Any] = {
        "id": identity.id,
        "name": identity.name,
        "hasDeleteProtection": identity.has_delete_protection,
        "authMethods": auth_methods(has_ua),
    }
    body: dict[str, Any] = {
        "id": identity.org_membership_id,
        "identityId": identity.id,
        "role": identity.org_role,
        "roleId": None,
        "orgId": org_id,
        "createdAt": iso(identity.created_at),
        "updatedAt": iso(identity.updated_at),
    }
    if locked is not None:
        inner = {
            "id": identity.id,
            "name": identity.name,
            "hasDeleteProtection": identity.has_delete_protection,
            "orgId": org_id,
            "authMethods": auth_methods(has_ua),
            "activeLockoutAuthMethods": ["universal-auth"] if locked else [],
        }
        body.update(
            lastLoginAuthMethod=identity.last_login_auth_method,
            lastLoginTime=iso(identity.last_login_time),
            metadata=list(identity.metadata_entries or []),
        )
    body["identity"] = inner
    return body


def universal_auth_public(ua: UniversalAuth) -> dict:
    return {
        "id": ua.id,
        "clientId": ua.client_id,
        "accessTokenTTL": ua.access_token_ttl,
        "accessTokenMaxTTL": ua.access_token_max_ttl,
        "accessTokenNumUsesLimit": ua.access_token_num_uses_limit,
        "accessTokenPeriod": 0,
        "clientSecretTrustedIps": [trusted_ips.describe(e) for e in ua.client_secret_trusted_ips],
        "accessTokenTrustedIps": [trusted_ips.describe(e) for e in ua.access_token_trusted_ips],
        "lockoutEnabled": ua.lockout_enabled,
        "lockoutThreshold": ua.lockout_threshold,
        "lockoutDurationSeconds": ua.lockout_duration_seconds,
        "lockoutCounterResetSeconds": ua.lockout_counter_reset_seconds,
        "identityId": ua.identity_id,
        "createdAt": iso(ua.created_at),
        "updatedAt": iso(ua.updated_at),
    }


def client_secret_public(secret: ClientSecret) -> dict:
    """Exactly these 10 fields: never the hash or the last-used time."""
    return {
        "id": secret.id,
        "identityUAId": secret.ua_id,
        "description": secret.description,
        "clientSecretPrefix": secret.prefix,
        "clientSecretNumUses": secret.num_uses,
        "clientSecretNumUsesLimit": secret.num_uses_limit,
        "clientSecretTTL": secret.ttl,
        "isClientSecretRevoked": secret.is_revoked,
        "createdAt": iso(secret.created_at),
        "updatedAt": iso(secret.updated_at),
    }


def login_response(token: str, ttl: int, max_ttl: int) -> dict:
    return {"accessToken": token, "expiresIn": ttl, "accessTokenMaxTTL": max_ttl, "tokenType": "Bearer"}


def _scope_public(membership: IdentityMembership) -> dict | None:
    return membership.scope or None


def _role_public(entry: dict) -> dict:
    return {
        "id": entry["id"],
        "role": entry["role"],
        "customRoleId": None,
        "customRoleName": None,
        "customRoleSlug": None,
        "isTemporary": False,
        "temporaryMode": None,
        "temporaryRange": None,
        "temporaryAccessStartTime": None,
        "temporaryAccessEndTime": None,
    }


def membership_public(membership: IdentityMembership) -> dict:
    """M1, M6, M7."""
    return {
        "id": membership.id,
        "projectId": membership.project_id,
        "identityId": membership.identity_id,
        "createdAt": iso(membership.created_at),
        "updatedAt": iso(membership.updated_at),
        "scope": _scope_public(membership),
    }


def membership_detail(membership: IdentityMembership, identity: Identity, org_id: str, *, has_ua: bool) -> dict:
    """M4."""
    return {
        "id": membership.id,
        "createdAt": iso(membership.created_at),
        "updatedAt": iso(membership.updated_at),
        "roles": [_role_public(entry) for entry in membership.roles],
        "lastLoginAuthMethod": identity.last_login_auth_method,
        "lastLoginTime": iso(identity.last_login_time),
        "identity": {
            "id": identity.id,
            "name": identity.name,
            "orgId": org_id,
            "projectId": None,
            "authMethods": auth_methods(has_ua),
            "metadata": list(identity.metadata_entries or []),
        },
        "scope": _scope_public(membership),
    }


def membership_list_item(membership: IdentityMembership, identity: Identity, org_id: str) -> dict:
    """M5 items."""
    return {
        "id": membership.id,
        "identityId": membership.identity_id,
        "createdAt": iso(membership.created_at),
        "updatedAt": iso(membership.updated_at),
        "roles": [_role_public(entry) for entry in membership.roles],
        "identity": {"id": identity.id, "name": identity.name, "orgId": org_id, "projectId": None},
        "scope": _scope_public(membership),
    }
