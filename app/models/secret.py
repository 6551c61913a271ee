"""Secrets at (project, environment, path, key). Rotations publish their keys here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_field, id_field


class Secret(SQLModel, table=True):
    __tablename__ = "secret"
    __table_args__ = (UniqueConstraint("environment_id", "secret_path", "key"),)

    id: str = id_field()
    project_id: str = Field(foreign_key="project.id", ondelete="CASCADE", index=True, max_length=36)
    environment_id: str = Field(foreign_key="environment.id", ondelete="CASCADE", max_length=36)
    secret_path: str = Field(max_length=1024)
    key: str = Field(max_length=256)
    type: str = Field(default="shared", max_length=16)
    version: int = 1
    # Keyring token bound to (secret, encrypted_value, id).
    encrypted_value: str = Field(sa_column=Column(Text, nullable=False))
    comment: str = Field(default="", max_length=1024)
    # Set while a rotation owns the secret; such a secret cannot be edited or deleted by hand.
    rotation_id: str | None = Field(default=None, max_length=36, index=True)
    # The key generation the value holds, set with the value by the rotation that owns it (null otherwise): the
    # read path records it per consumer, so the engine can tell which key a consumer last received.
    rotation_generation: int | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
