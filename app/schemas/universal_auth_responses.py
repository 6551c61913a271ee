"""Response objects for universal auth: its config (U1–U4), client secrets (S1–S5) and access tokens (A1–A3),
identity §6. Their request bodies are in app.schemas.identities."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import ConfigDict, Field

from app.auth import trusted_ips
from app.models import ClientSecret, UniversalAuth
from app.schemas.fields import ResponseBody
from app.timeutil import iso

T = TypeVar("T")


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
