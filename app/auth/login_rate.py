"""Login rate limits (issue 10 B2): a token bucket per client id and one per client IP, per process.

They are checked before any database or hash work, so a refused login costs a dictionary look-up (app.auth.rate_limit
keeps the buckets bounded). Client ids are kept as a digest, so their length costs nothing. A refusal is the 429
Infisical answers with (app.auth.rate_limit.refusal); the lockout never hears of it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from app.auth.rate_limit import Buckets, PerSettings, refusal
from app.config import Settings


class LoginRateLimit:
    def __init__(self, settings: Settings, *, now: Callable[[], float] = time.monotonic):
        self._by_client_id = Buckets(
            settings.rate_limit_login_client_id_burst, settings.rate_limit_login_client_id_per_second, now=now
        )
        self._by_ip = Buckets(settings.rate_limit_login_ip_burst, settings.rate_limit_login_ip_per_second, now=now)
        self._lock = threading.Lock()

    def check(self, *, client_id: str, client_ip: str | None) -> None:
        """Take one token from both buckets, or none and raise TooManyRequests with the wait for both."""
        client_key = hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).digest()
        pairs = [(self._by_client_id, client_key)] + ([(self._by_ip, client_ip)] if client_ip else [])
        with self._lock:
            wait, buckets = max(((buckets.wait(key), buckets) for buckets, key in pairs), key=lambda pair: pair[0])
            if wait > 0:
                raise refusal(wait, buckets)  # the limit that refused, with the wait for both
            for buckets, key in pairs:
                buckets.take(key)


_limit = PerSettings(LoginRateLimit)


def check(*, client_id: str, client_ip: str | None) -> None:
    """Raise TooManyRequests when this login is over either limit."""
    _limit.get().check(client_id=client_id, client_ip=client_ip)
