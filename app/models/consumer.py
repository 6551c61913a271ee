"""Who reads a rotation's secret: one row per (secret, identity), the last value read and where from.

Written in batches by the read audit (app.reads.audit), off the request path; read by the consumers view and
by the revocation engine, which holds a superseded key while a consumer may still use it (issue 12). Reads
through the admin token are not consumers and are not recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class SecretConsumer(SQLModel, table=True):
    __tablename__ = "secret_consumer"

    secret_id: str = Field(foreign_key="secret.id", ondelete="CASCADE", primary_key=True, max_length=36)
    identity_id: str = Field(foreign_key="identity.id", ondelete="CASCADE", primary_key=True, max_length=36, index=True)
    # The rotation that owned the secret at the read; no foreign key, as credential rows outlive their rotation.
    rotation_id: str | None = Field(default=None, max_length=36, index=True)
    first_read_at: datetime
    last_read_at: datetime
    last_read_version: int
    # The key generation that version holds; null when the secret did not record it (before revision 0006).
    last_read_generation: int | None = None
    ip_address: str | None = Field(default=None, max_length=64)
