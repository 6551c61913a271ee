"""Every key minted for a rotation: the intent record, the credential history and the revocation queue.

One row per generation. It is written before the provider is called (state `pending`), holds the key
id and encrypted key as soon as the provider answers, and stays queued in `revoking` until the provider
confirms the key is gone. Rows that still need work outlive their rotation, so `rotation_id` has no
foreign key; `connection_id` does, which stops a connection being deleted while its key is still needed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_field, id_field


class CredentialState(StrEnum):
    PENDING = "pending"  # intent recorded, mint outcome unknown
    MINTED = "minted"  # exists at the provider, not yet published
    ACTIVE = "active"  # published now
    INACTIVE = "inactive"  # published before, still valid
    REVOKING = "revoking"  # revocation queued or failing
    REVOKED = "revoked"  # the provider confirmed it is gone (404 included)
    ABANDONED = "abandoned"  # the intent closed with no key at the provider


# States whose row still needs work at the provider; they block deleting the connection.
OPEN_STATES = (CredentialState.PENDING, CredentialState.MINTED, CredentialState.REVOKING)


class RotationCredential(SQLModel, table=True):
    __tablename__ = "rotation_credential"
    # One intent per generation (copy 0); further keys found under the same name get copies 1, 2, ...
    __table_args__ = (
        UniqueConstraint("rotation_id", "generation", "copy_number", name="uq_rotation_credential_generation_copy"),
    )

    id: str = id_field()
    rotation_id: str = Field(max_length=36, index=True)
    connection_id: str = Field(foreign_key="app_connection.id", index=True, max_length=36)
    provider: str = Field(max_length=32)
    generation: int
    # 0 is the generation's intent. A create the network or a proxy repeated can leave more keys under the
    # same name: reconciliation records each extra one as copy 1, 2, ... so it is queued and revoked like any key.
    copy_number: int = 0
    key_name: str = Field(max_length=255)
    key_id: str | None = Field(default=None, max_length=255)
    # Keyring token bound to (rotation_credential, encrypted_key, id). Null when the plaintext was never seen.
    encrypted_key: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    state: str = Field(default=CredentialState.PENDING, max_length=16, index=True)
    slot: int | None = None
    created_at: datetime = created_field()
    published_at: datetime | None = None
    revoked_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=1024)
    revoke_attempts: int = 0
    revoke_not_before: datetime | None = None
    # Listings in a row, each after the grace period and spaced in time, that did not show a pending intent's key:
    # one listing can miss a key (pages shift mid-scan), so abandoning the intent takes several.
    negative_scans: int = 0
    # Fingerprint of the management credential that answers for this key: the one that minted it, or a later key
    # of the connection that was shown to see it. A 404 on revoke proves the key is gone only under that
    # credential; under another (the connection now points at another account) the key may still be live.
    # Null for rows written before fingerprints were kept.
    credential_fingerprint: str | None = Field(default=None, max_length=64)
    # Holds (issue 12, app/rotation/holds.py). When the key stopped being the active one.
    superseded_at: datetime | None = None
    # The hold clock: the first moment its revocation was due without any hold; a held key is revoked anyway
    # maxHoldSeconds after it.
    revoke_due_at: datetime | None = None
    # Since when, and why, the revocation has been held. Both stay after the key is revoked: the history shows them.
    held_since: datetime | None = None
    hold_reason: str | None = Field(default=None, max_length=1024)
    # The provider's usage reading kept as the quiet-window baseline, when it was taken, and the key's last use
    # as the provider last reported it.
    usage_baseline: float | None = None
    usage_baseline_at: datetime | None = None
    provider_last_used_at: datetime | None = None
    # When the provider lets the key die on its own (minted with the rotation's key lifetime); null: never.
    expires_at: datetime | None = None
    # Webhooks (app.webhooks): when `keys.revocation-failed` was last sent for this key (again an hour later while
    # it keeps failing), and when `keys.expiring` was (once per key).
    revocation_failure_notified_at: datetime | None = None
    expiry_notified_at: datetime | None = None
