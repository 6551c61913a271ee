"""GET /api/status's body: Infisical's shape, plus this process's clock skew against the database."""

from __future__ import annotations

from app.schemas.fields import ResponseBody


class Status(ResponseBody):
    message: str
    date: None = None
    status: str
    # This process's clock minus the database's, in seconds; null when the database did not answer.
    clockSkewSeconds: float | None = None
