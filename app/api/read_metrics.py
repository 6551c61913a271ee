"""`keyturn_secret_reads_total`: each consumer read route counts its answers under its API version.

    @router.get("/api/v4/secrets/{secretName}", ...)
    @counts_reads("v4")
    async def ...(request: Request) -> Response: ...

Counted in process memory (app.metrics.LocalCounter): the read path is the hot path."""

from __future__ import annotations

import functools
from collections.abc import Callable

from fastapi import Request, Response

from app.api.plain_route import Endpoint
from app.errors import AppError
from app.metrics import SECRET_READS_LOCAL


class _Results:
    """One incrementer per HTTP status of one API version's reads."""

    def __init__(self, api: str) -> None:
        self._api = api
        self._by_status: dict[int, Callable[[], object]] = {}

    def count(self, status: int) -> None:
        increment = self._by_status.get(status)
        if increment is None:
            increment = self._by_status[status] = SECRET_READS_LOCAL.incrementer(self._api, str(status))
        increment()


def counts_reads(api: str):
    """Count every answer of the decorated read route by `api` (v3, v4) and HTTP status (an error's status is
    the one its handler will send; anything unexpected is a 500)."""
    results = _Results(api)

    def decorate(handler: Endpoint) -> Endpoint:
        @functools.wraps(handler)
        async def counted(request: Request) -> Response:
            try:
                response = await handler(request)
            except AppError as exc:
                results.count(exc.status_code)
                raise
            except Exception:
                results.count(500)
                raise
            results.count(response.status_code)
            return response

        return counted

    return decorate
