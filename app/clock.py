"""The clock that token expiry, renewal and lockout read. Tests monkeypatch `now` instead of sleeping."""

from __future__ import annotations

from datetime import datetime

from app import timeutil


def now() -> datetime:
    return timeutil.utcnow()
