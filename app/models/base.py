"""Column helpers shared by the tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field

from app.timeutil import utcnow


def new_id() -> str:
    return str(uuid.uuid4())


def id_field() -> str:
    return Field(default_factory=new_id, primary_key=True, max_length=36)


def created_field() -> datetime:
    return Field(default_factory=utcnow, nullable=False)
