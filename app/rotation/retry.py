"""Retry policy of the rotation core. Providers never retry; these rules decide when to try again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from app.providers.base import ProviderError

T = TypeVar("T")

# A scheduled rotation gets this many attempts in a row; the attempt that leaves none is final
# (rotation §6.4, rotation §8).
MAX_SCHEDULED_ATTEMPTS = 5
# Verifying a fresh key is a safe GET: retried briefly in case the provider has not activated it yet (rotation §14d).
VERIFY_PAUSES = (0.25, 0.5)


def verify_with_retry(
    check: Callable[[], T], *, pauses: tuple[float, ...] = VERIFY_PAUSES, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run a safe, idempotent provider check, retrying after each pause; the last error propagates."""
    for pause in pauses:
        try:
            return check()
        except ProviderError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403, 404, 429):
                raise  # the request itself is wrong; asking again cannot help
            sleep(exc.retry_after if exc.retry_after is not None and exc.retry_after < 2 else pause)
    return check()
