"""create_app(): routers, error handlers and the embedded worker."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import console
from app import metrics as work_metrics
from app.api import (
    audit,
    connections,
    events,
    identities,
    memberships,
    metrics,
    organization,
    projects,
    rotations,
    secrets,
    status,
    universal_auth,
    webhooks,
)
from app.api.errors import install_error_handlers
from app.api.input_guard import InputGuardMiddleware
from app.api.request_context import RequestContextMiddleware
from app.config import Settings, get_settings

log = logging.getLogger("keyturn")

# Routes are matched in order. The consumer read routes, the hot path, come first and sit on the app's own
# router: an included router costs a second lookup, through its inclusion context, on every request.
DIRECT_ROUTERS = [secrets.router]
ROUTERS = [
    status.router,
    metrics.router,
    organization.router,
    projects.router,
    connections.router,
    rotations.router,
    identities.router,
    universal_auth.router,
    memberships.router,
    audit.router,
    events.router,
    webhooks.router,
]


def create_app(settings: Settings | None = None, *, configure: bool = True) -> FastAPI:
    """Build the app. `configure=False` skips engine/keyring set-up (for generating the OpenAPI document)."""
    settings = settings or get_settings()
    if configure:
        from app.bootstrap import configure as configure_process

        configure_process(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # The metrics flusher, a thread, starts here rather than in `configure`: `keyturn serve` builds the app in
        # a parent that then forks its web processes, and a process must hold no thread when it forks.
        if configure:
            work_metrics.start_flushing()
        worker = None
        if configure and settings.worker == "embedded":
            from app.rotation.worker import Worker

            worker = Worker(settings)
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if configure:
                work_metrics.flush()  # a forked web process leaves by os._exit, which runs no atexit handler

    app = FastAPI(
        title="keyturn",
        version="0.1.0",
        description="Zero-downtime rotation of third-party API keys, served over Infisical's secrets API.",
        lifespan=lifespan,
        redirect_slashes=False,
        # The OpenAPI document only, and only when asked for: Swagger UI and ReDoc load third-party scripts.
        openapi_url="/openapi.json" if settings.docs else None,
        docs_url=None,
        redoc_url=None,
        # keyturn installs no OpenTelemetry provider; FastAPI's per-request check for one costs ~3 µs.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.router.routes[0:0] = [route for router in DIRECT_ROUTERS for route in router.routes]
    for router in ROUTERS:
        app.include_router(router)
    console.install(app)
    # Added last runs first: the request id is set before the input is checked.
    app.add_middleware(
        InputGuardMiddleware, max_bytes=settings.max_body_bytes, max_auth_bytes=settings.max_auth_body_bytes
    )
    app.add_middleware(RequestContextMiddleware)
    return app
