"""GET /api/status's body: Infisical's shape."""

from __future__ import annotations

from app.schemas.fields import ResponseBody


class Status(ResponseBody):
    message: str
    date: None = None
    status: str
