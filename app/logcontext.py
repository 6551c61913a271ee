"""What every log line says about the work in progress: its request id (API requests and worker runs alike) and,
while one rotation is being worked on, that rotation's id."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
rotation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("rotation_id", default=None)


def current_request_id() -> str:
    return request_id.get()


@contextmanager
def about_rotation(rotation: str) -> Iterator[None]:
    """Log lines written in the block carry `rotation` as their rotation id."""
    token = rotation_id.set(rotation)
    try:
        yield
    finally:
        rotation_id.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.reqId = request_id.get()
        record.rotationId = rotation_id.get()
        return True
