"""Request bodies for identities, universal auth and memberships (identity §5–§7). Their response objects are
in app.schemas.identity_responses, universal_auth_responses and membership_responses."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, field_validator
from pydantic_core import PydanticCustomError

from app.auth import trusted_ips
from app.auth.roles import ROLES
from app.auth.scope import validate_glob
from app.schemas.fields import ColumnInt, RequestBody, slug_rule, trimmed

MAX_SECONDS = 315360000


# --- identities ---------------------------------------------------------------------------------

OrgRole = Literal["admin", "member", "no-access"]


class MetadataEntry(RequestBody):
    key: Annotated[str, trimmed(1, 256)]
    value: Annotated[str, trimmed(1, 256)]


class IdentityCreate(RequestBody):
    name: Annotated[str, trimmed(1, 64)]
    organizationId: str | None = None  # accepted and ignored (identity §3.2)
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
    accessTokenNumUsesLimit: ColumnInt = 0
    accessTokenPeriod: ColumnInt = 0
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
    accessTokenNumUsesLimit: ColumnInt | None = None
    accessTokenPeriod: ColumnInt | None = None
    clientSecretTrustedIps: TrustedIps | None = None
    accessTokenTrustedIps: TrustedIps | None = None
    lockoutEnabled: StrictBool | None = None
    lockoutThreshold: Annotated[StrictInt, Field(ge=1, le=30)] | None = None
    lockoutDurationSeconds: Annotated[StrictInt, Field(ge=30, le=86400)] | None = None
    lockoutCounterResetSeconds: Annotated[StrictInt, Field(ge=5, le=3600)] | None = None


class ClientSecretCreate(RequestBody):
    description: Annotated[str, trimmed(0, 256)] = ""
    numUsesLimit: ColumnInt = 0
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
    """Absent or null fields mean "all"; an empty list is refused as ambiguous (identity §8.3)."""

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
