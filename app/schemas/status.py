"""GET /api/status's body: Infisical's shape, plus this process's clock skew against the database and keyturn's
readiness checks (app.services.health)."""

from __future__ import annotations

from app.schemas.fields import ResponseBody


class HealthCheck(ResponseBody):
    ok: bool
    message: str


class Status(ResponseBody):
    message: str
    date: None = None
    # `ok`, or the names of the failing checks, comma-separated (e.g. `worker,change-feed`).
    status: str
    # This process's clock minus the database's, in seconds; null when the database did not answer.
    clockSkewSeconds: float | None = None
    # By name: database, worker, change-feed, clock-skew.
    checks: dict[str, HealthCheck]


class Liveness(ResponseBody):
    status: str
