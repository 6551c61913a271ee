"""Secret rotations: what to mint, how often, where to publish, and the lease that serialises work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.config import get_settings
from app.models.base import created_field, id_field


def _server_default(name: str, **kwargs):
    """A column whose value for a new rotation is the server's KEYTURN_REVOCATION_<NAME> when the row is built."""
    return Field(default_factory=lambda: getattr(get_settings(), f"revocation_{name}"), **kwargs)


class SecretRotation(SQLModel, table=True):
    __tablename__ = "secret_rotation"
    __table_args__ = (UniqueConstraint("environment_id", "secret_path", "name"),)

    id: str = id_field()
    project_id: str = Field(foreign_key="project.id", index=True, max_length=36)
    environment_id: str = Field(foreign_key="environment.id", max_length=36)
    secret_path: str = Field(max_length=1024)
    name: str = Field(max_length=64)
    description: str | None = Field(default=None, max_length=256)
    type: str = Field(max_length=32)
    connection_id: str = Field(foreign_key="app_connection.id", index=True, max_length=36)
    parameters: dict = Field(sa_column=Column(JSON, nullable=False))
    secrets_mapping: dict = Field(sa_column=Column(JSON, nullable=False))
    is_auto_rotation_enabled: bool = True
    rotation_interval: int
    rotate_at_hours: int = 0
    rotate_at_minutes: int = 0
    active_index: int = 0
    rotation_status: str = Field(default="success", max_length=16)
    last_rotation_attempted_at: datetime
    last_rotated_at: datetime
    last_rotation_job_id: str | None = Field(default=None, max_length=128)
    next_rotation_at: datetime | None = Field(default=None, index=True)
    is_last_rotation_manual: bool = True
    # Keyring token bound to (secret_rotation, last_rotation_message, id): provider text may echo secrets.
    last_rotation_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Generation numbers are never reused, not even after a failed attempt (rotation §14c).
    next_generation: int = 1
    # Scheduled retries of a failed run: how many attempts failed in a row, and not before when to retry.
    failed_attempts: int = 0
    retry_not_before: datetime | None = None
    # The one lease (rotation §14g): whoever holds an unexpired lease may rotate, update or delete.
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = None
    # The revocation policy (issue 12), the `revocation` block of the API: when a superseded key may be revoked.
    # Each rotation keeps its own copy; the server's settings only fill a new rotation's.
    revocation_mode: str = _server_default("mode", max_length=16)
    revocation_min_overlap_seconds: int = _server_default("min_overlap_seconds")
    revocation_hold_while_in_use: bool = _server_default("hold_while_in_use")
    revocation_quiet_seconds: int = _server_default("quiet_seconds")
    revocation_max_hold_seconds: int = _server_default("max_hold_seconds")
    # Null: keys never expire. Only types whose keys can expire take one (set by app.services.revocation_policy).
    revocation_key_lifetime_seconds: int | None = None
    # The active key's expires_at less one interval: from then on the rotation is due even if auto-rotation is off.
    expiry_due_at: datetime | None = Field(default=None, index=True)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
