"""Console sign-ins (issue 15): one row per browser session, found by the SHA-256 of the cookie's value.

The cookie's value is never stored, so the table cannot be replayed. A session carries no permission of its
own: it names who signed in (the admin token, or the access token a universal-auth login issued), and every
request asks the same principal checks as the API. Deleting the row ends the session.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import created_field


class ConsoleSession(SQLModel, table=True):
    __tablename__ = "console_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    # The access token issued at sign-in; null for the admin token. Deleting the token (its identity or its
    # universal-auth config removed) ends the session.
    access_token_id: str | None = Field(
        default=None, foreign_key="identity_access_token.id", ondelete="CASCADE", index=True, max_length=36
    )
    # For the admin: an HMAC of the admin token keyed by the cookie's value, so a new admin token ends every
    # admin session and the row alone proves nothing.
    admin_binding: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_field()
    last_seen_at: datetime = Field(index=True)
