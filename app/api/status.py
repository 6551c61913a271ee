"""Health, for people and probes; none of it needs a token.

- GET /api/status: Infisical's body plus keyturn's readiness checks (app.services.health). Always 200, since
  Infisical's SDKs and the CLI read it as "the server is up"; `?strict=true` answers 503 when a check fails.
- GET /readyz: the same body, 503 when a check fails: for load balancers and Kubernetes readiness probes.
- GET /healthz: liveness only (the process serves requests); it touches nothing else, so a database outage
  does not get every replica restarted.
"""

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from app.schemas.status import HealthCheck, Liveness, Status
from app.services import health

router = APIRouter(tags=["status"])

NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": Status, "description": "A readiness check failed: `checks` says which."}
}


def _status() -> tuple[Status, bool]:
    current = health.current()
    report = current.report
    failing = report.failing
    body = Status(
        message="; ".join(check.message for check in failing) if failing else "Ok",
        status=",".join(check.name for check in failing) if failing else "ok",
        clockSkewSeconds=current.clock_skew_seconds,
        checks={check.name: HealthCheck(ok=check.ok, message=check.message) for check in report.checks},
    )
    return body, report.ok


def _answer(body: Status, ready: bool) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get("/api/status", operation_id="getStatus", response_model=Status, responses=NOT_READY)
def get_status(strict: bool = Query(False, description="Answer 503 when any readiness check fails.")) -> JSONResponse:
    body, ready = _status()
    return _answer(body, ready or not strict)


@router.get("/readyz", operation_id="getReadiness", response_model=Status, responses=NOT_READY)
def get_readiness() -> JSONResponse:
    return _answer(*_status())


@router.get("/healthz", operation_id="getLiveness")
def get_liveness() -> Liveness:
    return Liveness(status="ok")
