"""The read budget: a token bucket per caller on secret reads (v3 and v4, one secret or a list), per process.

Off by default (KEYTURN_RATE_LIMIT_READS_PER_SECOND=0): then a read pays one settings identity check and one
attribute test. The caller is the identity (or the admin token), whatever token or address it reads with, so a
fleet sharing one identity shares one budget. A refusal is Infisical's 429 (app.auth.rate_limit.refusal), which
the Node SDK retries (consumer §8.2) and the operator's InfisicalStaticSecret waits out by its Retry-After. A 304
counts as a read: it costs the same authentication and lookup.
"""

from __future__ import annotations

import threading

from app.auth.principal import Principal
from app.auth.rate_limit import Buckets, PerSettings, refusal
from app.config import Settings


class ReadRateLimit:
    def __init__(self, settings: Settings):
        self.buckets = Buckets(settings.rate_limit_reads_burst, settings.rate_limit_reads_per_second)
        self.enabled = self.buckets.enabled
        self._lock = threading.Lock()

    def check(self, principal: Principal) -> None:
        with self._lock:
            wait = self.buckets.try_take(principal.identity_id)  # None: the admin token
        if wait > 0:
            raise refusal(wait, self.buckets)


_limit = PerSettings(ReadRateLimit)


def check(principal: Principal) -> None:
    """Spend one read of the caller's budget, or raise TooManyRequests."""
    limit = _limit.get()
    if limit.enabled:
        limit.check(principal)
