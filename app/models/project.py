"""The single organisation, projects and their environments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_field, id_field


class Organization(SQLModel, table=True):
    __tablename__ = "organization"

    id: str = id_field()
    name: str = Field(max_length=64)
    created_at: datetime = created_field()


class Project(SQLModel, table=True):
    __tablename__ = "project"

    id: str = id_field()
    name: str = Field(max_length=64)
    slug: str = Field(max_length=36, unique=True)
    description: str | None = Field(default=None, max_length=1024)
    has_delete_protection: bool = False
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class Environment(SQLModel, table=True):
    __tablename__ = "environment"
    __table_args__ = (UniqueConstraint("project_id", "slug"),)

    id: str = id_field()
    project_id: str = Field(foreign_key="project.id", ondelete="CASCADE", index=True, max_length=36)
    name: str = Field(max_length=64)
    slug: str = Field(max_length=64)
    position: int
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
