"""`keyturn_secret_reads_total`: each consumer read route counts its answers under its API version.

    @router.get("/api/v4/secrets/{secretName}", ...)
    @counts_reads("v4")
    async def ...(request: Request) -> Response: ...

Counted in process memory (app.metrics.LocalCounter): the read path is the hot path."""

from __future__ import annotations

import functools

from fastapi import Request, Response

from app.api.plain_route import Endpoint
from app.errors import AppError
from app.metrics import SECRET_READS_LOCAL


def counts_reads(api: str):
    """Count every answer of the decorated read route by `api` (v3, v4) and HTTP status (an error's status is
    the one its handler will send; anything unexpected is a 500)."""

    def decorate(handler: Endpoint) -> Endpoint:
        @functools.wraps(handler)
        async def counted(request: Request) -> Response:
            try:
                response = await handler(request)
            except AppError as exc:
                SECRET_READS_LOCAL.inc(api, str(exc.status_code))
                raise
            except Exception:
                SECRET_READS_LOCAL.inc(api, "500")
                raise
            SECRET_READS_LOCAL.inc(api, str(response.status_code))
            return response

        return counted

    return decorate
