"""Machine identities, their universal-auth config, client secrets, access tokens and project memberships.

Deleting an identity cascades to everything here; deleting a UA config cascades to its client secrets
and access tokens, so a token stops working the moment its identity or config is gone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import created_field, id_field, new_id


class Identity(SQLModel, table=True):
    __tablename__ = "identity"

    id: str = id_field()
    name: str = Field(max_length=64)
    # The organisation role: `admin` equals the admin token; `member` and `no-access` grant nothing.
    org_role: str = Field(default="no-access", max_length=16)
    # Infisical shows an organisation-membership id at the top level of I2/I3; it never changes.
    org_membership_id: str = Field(default_factory=new_id, max_length=36)
    has_delete_protection: bool = False
    # [{id, key, value}]
    metadata_entries: list = Field(default_factory=list, sa_column=Column("metadata", JSON, nullable=False))
    last_login_auth_method: str | None = Field(default=None, max_length=32)
    last_login_time: datetime | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class UniversalAuth(SQLModel, table=True):
    """One per identity. Also holds the login lockout state, keyed by (identity, clientId) as this row is."""

    __tablename__ = "identity_universal_auth"

    id: str = id_field()
    identity_id: str = Field(foreign_key="identity.id", ondelete="CASCADE", unique=True, max_length=36)
    client_id: str = Field(default_factory=new_id, unique=True, max_length=36)
    access_token_ttl: int = 2592000
    access_token_max_ttl: int = 2592000
    access_token_num_uses_limit: int = 0
    # Request form [{ipAddress}] values, e.g. "10.0.0.0/8"; parsed on use.
    client_secret_trusted_ips: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    access_token_trusted_ips: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    lockout_enabled: bool = True
    lockout_threshold: int = 3
    lockout_duration_seconds: int = 300
    lockout_counter_reset_seconds: int = 30
    lockout_counter: int = 0
    lockout_counter_expires_at: datetime | None = None
    locked_until: datetime | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class ClientSecret(SQLModel, table=True):
    """Only a slow salted hash and the first 4 characters are kept; the value is shown once."""

    __tablename__ = "identity_ua_client_secret"

    id: str = id_field()
    ua_id: str = Field(foreign_key="identity_universal_auth.id", ondelete="CASCADE", index=True, max_length=36)
    identity_id: str = Field(foreign_key="identity.id", ondelete="CASCADE", index=True, max_length=36)
    description: str = Field(default="", max_length=256)
    prefix: str = Field(max_length=4)
    secret_hash: str = Field(max_length=255)
    num_uses: int = 0
    num_uses_limit: int = 0
    ttl: int = 0
    is_revoked: bool = False
    last_used_at: datetime | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class AccessToken(SQLModel, table=True):
    """An opaque bearer token, stored as its SHA-256. TTLs are copied from the UA config at login."""

    __tablename__ = "identity_access_token"

    id: str = id_field()
    token_hash: str = Field(max_length=64, unique=True)
    identity_id: str = Field(foreign_key="identity.id", ondelete="CASCADE", index=True, max_length=36)
    ua_id: str = Field(foreign_key="identity_universal_auth.id", ondelete="CASCADE", index=True, max_length=36)
    client_secret_id: str | None = Field(default=None, max_length=36)
    ttl: int
    max_ttl: int
    num_uses: int = 0
    num_uses_limit: int = 0
    is_revoked: bool = False
    created_at: datetime = created_field()
    last_renewed_at: datetime | None = None


class IdentityMembership(SQLModel, table=True):
    """An identity's roles in one project, optionally narrowed by a scope (identity §8.3)."""

    __tablename__ = "identity_membership"
    __table_args__ = (UniqueConstraint("project_id", "identity_id"),)

    id: str = id_field()
    project_id: str = Field(foreign_key="project.id", ondelete="CASCADE", index=True, max_length=36)
    identity_id: str = Field(foreign_key="identity.id", ondelete="CASCADE", index=True, max_length=36)
    # [{id, role}]: one entry per distinct built-in role.
    roles: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # {environments: [...] | None, secretPaths: [...] | None} or None for "everything".
    scope: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
