"""Exponential backoff with jitter: the one rule for when to try again, shared by the rotation core (failed
attempts, revocations, reconciliation) and the webhook sender."""

from __future__ import annotations

import random


def backoff_seconds(
    attempt: int, *, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Exponential backoff for the `attempt`-th failure (1-based), with jitter in [50%, 100%], capped.

    A provider's Retry-After is a floor: we never come back sooner than it asked."""
    exponential = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = exponential * (0.5 + 0.5 * (rng or random).random())
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
