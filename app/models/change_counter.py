"""One row counting the changes a cached secret read depends on; database triggers bump it
(app.reads.change_feed_schema), readers compare it (app.reads.change_feed)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class ChangeCounter(SQLModel, table=True):
    __tablename__ = "keyturn_change"

    id: int = Field(primary_key=True)
    n: int = Field(sa_column=Column(BigInteger, nullable=False))
