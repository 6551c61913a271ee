"""The consumers view of a rotation (rotation §14m): who reads its secret, and which superseded keys are still
live and why. A keyturn extension; no key material."""

from __future__ import annotations

from app.validation import CamelModel


class ConsumerPublic(CamelModel):
    """One identity's last read of the rotation's secret."""

    identity_id: str
    identity_name: str
    last_read_at: str
    last_read_version: int
    last_read_generation: int | None  # null for reads recorded before generations were (migration 0006)
    ip_address: str | None
    migrated: bool  # its last read returned the active key


class ProviderUsage(CamelModel):
    """The provider's last reading of a key, as the revocation holds kept it (no provider call on a GET)."""

    observed_at: str | None  # when `usage` was read (null when the provider reports only a last use)
    usage: float | None  # for providers that count usage: what the key has used, all time
    last_used_at: str | None  # for providers that report it: when the key was last used


class LiveKey(CamelModel):
    """A key that still works at the provider but is not the published one."""

    generation: int
    key_id: str
    state: str  # inactive, revoking, or minted (a copy never published)
    superseded_at: str | None
    revoke_after: str | None  # the earliest its revocation is tried next; null until it is queued
    in_use: bool
    in_use_because: list[str]
    provider_usage: ProviderUsage | None
    held_until: str | None  # held: revoked anyway at this time (maxHoldSeconds after it was first due)


class ConsumersEnvelope(CamelModel):
    rotation_id: str
    type: str
    active_generation: int | None  # null while no key is published
    consumers: list[ConsumerPublic]
    keys: list[LiveKey]
