"""In-process cache for the consumer read path: authenticated callers and rendered secret reads.

An entry is served only while (1) the change feed's stamp is the one it was filled under, so any watched
database change, from any process, drops it (app.reads.change_feed), (2) it is younger than
`MAX_AGE_SECONDS`, a backstop, and (3) for callers, their token has not expired. Fills capture the stamp
*before* reading the database: a change that lands during the fill leaves the entry already stale.
Same-process invalidation hooks (app.auth.tokens.invalidate) also clear it at once.

Lookups are counted (keyturn_read_cache_hits_total / _misses_total); one that waits for another request's fill
counts as a hit, since it reads nothing itself.

Misses are single-flight: concurrent requests for one key under one stamp share one database fill, so an
expiry under load costs one fill, not one per connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from app.db import PerEngine
from app.metrics import READ_CACHE_HIT, READ_CACHE_MISS
from app.reads.change_feed import feed_for

MAX_AGE_SECONDS = 5.0
MAX_ENTRIES = 50_000

Stamp = tuple[int, int]


class ReadCache:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._feed = feed_for(engine)
        self._epoch = 0  # bumped by local invalidation
        self._entries: dict[Any, tuple[Stamp, float, Any]] = {}
        self._fills: dict[tuple[Any, Stamp], asyncio.Future] = {}

    def stamp(self) -> Stamp | None:
        """The current validity stamp, or None when nothing may be served from or put in the cache."""
        feed_stamp = self._feed.stamp() if self._feed is not None else None
        return None if feed_stamp is None else (feed_stamp, self._epoch)

    def get(self, key: Any, stamp: Stamp | None) -> Any:
        entry = self._entries.get(key)
        if entry is None or stamp is None:
            return None
        entry_stamp, deadline, value = entry
        if entry_stamp != stamp or time.monotonic() >= deadline:
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: Any, value: Any, stamp: Stamp | None, max_age: float = MAX_AGE_SECONDS) -> None:
        if stamp is None or max_age <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (stamp, time.monotonic() + min(max_age, MAX_AGE_SECONDS), value)

    async def fetch(self, key: Any, stamp: Stamp | None, fill: Callable[[], tuple[Any, float]]) -> tuple[Any, bool]:
        """(value, whether this request computed it). The value is cached, or shared from a concurrent fill, or
        `fill()` run in the threadpool, which returns (value, max age in seconds; <= 0 means do not keep)."""
        value = self.get(key, stamp)
        if value is not None:
            READ_CACHE_HIT()
            return value, False
        if stamp is None:  # nothing is known about freshness: every request reads for itself
            READ_CACHE_MISS()
            return (await run_in_threadpool(fill))[0], True
        pending = self._fills.get((key, stamp))
        if pending is not None:  # another request's fill answers this one: no database read of its own
            READ_CACHE_HIT()
            return await asyncio.shield(pending), False
        READ_CACHE_MISS()
        future = asyncio.get_running_loop().create_future()
        self._fills[(key, stamp)] = future
        try:
            value, max_age = await run_in_threadpool(fill)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._fills.pop((key, stamp), None)
        self.put(key, value, stamp, max_age)
        future.set_result(value)
        return value, True

    def invalidate(self, **_ignored: Any) -> None:
        self._epoch += 1
        self._entries.clear()

    def close(self) -> None:
        if self._feed is not None:
            self._feed.stop()
        self._entries.clear()


def _new_cache(engine: Engine) -> ReadCache:
    _register_invalidation_hook()
    return ReadCache(engine)


_caches: PerEngine[ReadCache] = PerEngine(_new_cache)


def cache_for(engine: Engine) -> ReadCache:
    """The cache bound to this process's engine (a new engine, as in tests, gets a fresh cache)."""
    return _caches.get(engine)


_hooked = False


def _register_invalidation_hook() -> None:
    global _hooked
    if _hooked:
        return
    from app.auth import tokens

    tokens.on_invalidate(_invalidate_current)
    _hooked = True


def _invalidate_current(**kwargs: Any) -> None:
    if _caches.current is not None:
        _caches.current.invalidate(**kwargs)
