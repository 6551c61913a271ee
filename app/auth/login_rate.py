"""Per-process login rate limits: a token bucket per client id and one per client IP (issue 10 B2).

They are checked before any database or hash work, so a refused login costs a dictionary look-up. Each table
keeps at most MAX_KEYS buckets and forgets the least recently used first: memory stays bounded whatever ids an
attacker invents, and a forgotten key starts again with a full bucket, which only errs towards letting a login
through (the lockout still counts its failures). Client ids are kept as a digest, so their length costs nothing.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from app.config import Settings, get_settings
from app.errors import TooManyRequests

MAX_KEYS = 10_000


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

    def wait(self, key: Hashable) -> float:
        """Seconds until `key` has a token (0: it has one now)."""
        if self.per_second <= 0:
            return 0.0
        tokens = self._refilled(key)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.per_second

    def take(self, key: Hashable) -> None:
        if self.per_second <= 0:
            return
        self._tokens[key] = (self._refilled(key) - 1, self._now())
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


class LoginRateLimit:
    def __init__(self, settings: Settings, *, now: Callable[[], float] = time.monotonic):
        self.settings = settings
        self._by_client_id = Buckets(settings.login_client_id_burst, settings.login_client_id_per_second, now=now)
        self._by_ip = Buckets(settings.login_ip_burst, settings.login_ip_per_second, now=now)
        self._lock = threading.Lock()

    def check(self, *, client_id: str, client_ip: str | None) -> None:
        """Take one token from both buckets, or none and raise TooManyRequests with the wait for both."""
        client_key = hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).digest()
        pairs = [(self._by_client_id, client_key)] + ([(self._by_ip, client_ip)] if client_ip else [])
        with self._lock:
            wait = max(buckets.wait(key) for buckets, key in pairs)
            if wait > 0:
                raise TooManyRequests(math.ceil(wait))
            for buckets, key in pairs:
                buckets.take(key)


_current: LoginRateLimit | None = None
_current_lock = threading.Lock()


def check(*, client_id: str, client_ip: str | None) -> None:
    """Raise TooManyRequests when this login is over either limit. The buckets follow the installed settings
    (new settings, as each test installs, start with full buckets)."""
    global _current
    settings = get_settings()
    limit = _current
    if limit is None or limit.settings is not settings:
        with _current_lock:
            if _current is None or _current.settings is not settings:
                _current = LoginRateLimit(settings)
            limit = _current
    limit.check(client_id=client_id, client_ip=client_ip)
