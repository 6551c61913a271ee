"""App connections: a provider management key, encrypted at rest and never returned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from app.models.base import created_field, id_field


class AppConnection(SQLModel, table=True):
    __tablename__ = "app_connection"

    id: str = id_field()
    # Names are unique in the (single) organisation, so a name identifies a connection everywhere.
    name: str = Field(max_length=64, unique=True)
    description: str | None = Field(default=None, max_length=256)
    project_id: str | None = Field(
        default=None, foreign_key="project.id", ondelete="CASCADE", index=True, max_length=36
    )
    app: str = Field(max_length=32)
    method: str = Field(max_length=32)
    # Keyring token bound to (app_connection, encrypted_credentials, id); JSON of the credentials.
    encrypted_credentials: str = Field(sa_column=Column(Text, nullable=False))
    credentials_hash: str = Field(max_length=64)
    version: int = 1
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
