"""Token buckets, and the 429 they answer with, shared by the login and read rate limits.

Buckets live in the process (no database round trip, so a refusal costs a dictionary look-up). Each table keeps at
most MAX_KEYS buckets and forgets the least recently used first: memory stays bounded whatever keys a client
invents, and a forgotten key starts again with a full bucket, which only errs towards letting a request through.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from app.config import Settings, get_settings
from app.errors import TooManyRequests

MAX_KEYS = 10_000

T = TypeVar("T")


class Buckets:
    """Token buckets by key: `burst` tokens at most, refilled at `per_second`; a rate of 0 turns them off."""

    def __init__(
        self, burst: int, per_second: float, *, max_keys: int = MAX_KEYS, now: Callable[[], float] = time.monotonic
    ):
        self.burst = burst
        self.per_second = per_second
        self.max_keys = max_keys
        self._now = now
        self._tokens: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key -> (tokens, as of)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def wait(self, key: Hashable) -> float:
        """Seconds until `key` has a token (0: it has one now)."""
        if not self.enabled:
            return 0.0
        tokens = self._refilled(key)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.per_second

    def take(self, key: Hashable) -> None:
        if self.enabled:
            self._store(key, self._refilled(key) - 1)

    def try_take(self, key: Hashable) -> float:
        """Take a token and return 0, or take none and return the seconds until one is there."""
        if not self.enabled:
            return 0.0
        tokens = self._refilled(key)
        if tokens < 1:
            return (1 - tokens) / self.per_second
        self._store(key, tokens - 1)
        return 0.0

    def _store(self, key: Hashable, tokens: float) -> None:
        self._tokens[key] = (tokens, self._now())
        self._tokens.move_to_end(key)
        while len(self._tokens) > self.max_keys:
            self._tokens.popitem(last=False)  # the least recently used

    def _refilled(self, key: Hashable) -> float:
        entry = self._tokens.get(key)
        if entry is None:
            return float(self.burst)
        self._tokens.move_to_end(key)  # a refused key is in use too: keep it over idle ones
        tokens, as_of = entry
        return min(float(self.burst), tokens + (self._now() - as_of) * self.per_second)


def refusal(wait_seconds: float, buckets: Buckets) -> TooManyRequests:
    """The 429 for a request that finds `buckets` empty for another `wait_seconds`, as Infisical answers it: whole
    seconds in Retry-After, and the x-ratelimit-* headers with the bucket's size as the limit."""
    return TooManyRequests(math.ceil(wait_seconds), limit=buckets.burst)


class PerSettings(Generic[T]):
    """One `T` built from the installed settings, and built again when they are replaced: each test installs its
    own, so each starts with full buckets. Reading it costs an identity check."""

    def __init__(self, build: Callable[[Settings], T]):
        self._build = build
        self._current: tuple[Settings, T] | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        settings = get_settings()
        current = self._current
        if current is None or current[0] is not settings:
            with self._lock:
                current = self._current
                if current is None or current[0] is not settings:
                    current = self._current = (settings, self._build(settings))
        return current[1]
