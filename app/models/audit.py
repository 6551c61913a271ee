"""The audit log: who did what, when. Never holds a secret value."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.models.base import id_field
from app.timeutil import utcnow


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: str = id_field()
    created_at: datetime = Field(default_factory=utcnow, nullable=False, index=True)
    # `admin`, `identity:<id>`, or `anonymous` (failed logins with an unknown client id).
    actor: str = Field(max_length=64, index=True)
    event: str = Field(max_length=64, index=True)
    # No foreign key: entries outlive their project.
    project_id: str | None = Field(default=None, max_length=36, index=True)
    resource_type: str | None = Field(default=None, max_length=64)
    resource_id: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, max_length=64)
    metadata_entries: dict = Field(default_factory=dict, sa_column=Column("metadata", JSON, nullable=False))
