"""GET /metrics: Prometheus' text format. The work metrics of every process of this server (app.metrics) and the
state read from the database (app.services.state_metrics). Who may scrape: app.metrics_access."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from app import metrics
from app.config import get_settings
from app.errors import Unauthorized
from app.metrics_access import FORWARDING_HEADERS, refusal
from app.services.state_metrics import StateCollector

router = APIRouter(tags=["status"])

_STATE = StateCollector()


@router.get(
    "/metrics",
    operation_id="getMetrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus' text exposition format.",
        },
        401: {"description": "A bearer token is needed, and this is not KEYTURN_METRICS_TOKEN."},
    },
)
async def get_metrics(request: Request) -> Response:
    forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
    why = refusal(get_settings(), request.headers.get("authorization"), forwarded)
    if why is not None:
        raise Unauthorized(why)
    body = await run_in_threadpool(metrics.scrape, _STATE)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
