"""How far this process's clock is from the database's.

Leases and ages are judged by the database's clock, so a skewed host cannot steal a lease; but the
timestamps a process writes (next rotation, audit times) still come from its own clock. A skew past
`clock_skew_limit_seconds` is reported loudly at start and in /api/status, so the host's time sync gets fixed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from app import db
from app.config import get_settings
from app.timeutil import utcnow

log = logging.getLogger("keyturn.clock")

_STATUS_MAX_AGE = 10.0  # seconds a measurement serves /api/status: that route needs no token
_lock = threading.Lock()
_latest: tuple[Engine, float, float] | None = None  # (engine, skew, monotonic time measured)


@dataclass(frozen=True)
class Skew:
    seconds: float  # this process's clock minus the database's: positive when the process runs fast
    limit: float

    @property
    def too_large(self) -> bool:
        return abs(self.seconds) > self.limit

    def describe(self) -> str:
        direction = "ahead of" if self.seconds > 0 else "behind"
        return f"this process's clock is {abs(self.seconds):.1f} s {direction} the database's"


def measure() -> float:
    """Seconds this process's clock is ahead of the database's (negative: behind), read against the middle
    of the round trip, so the error is at most half of it."""
    before = utcnow()
    with db.unit_of_work() as session:
        database_now = session.execute(select(db.now())).scalar_one()
    after = utcnow()
    return ((before + (after - before) / 2) - database_now).total_seconds()


def _skew(seconds: float) -> Skew:
    return Skew(seconds=round(seconds, 1), limit=get_settings().clock_skew_limit_seconds)


def check_at_start() -> Skew | None:
    """Measure once and log a warning if the skew is over the limit; None if the database did not answer."""
    try:
        skew = _skew(measure())
    except Exception as exc:  # start-up goes on: the database check that matters comes elsewhere  # noqa: BLE001 - a failed measurement must not stop start-up or the status page
        log.warning("could not compare this process's clock with the database's (%s)", type(exc).__name__)
        return None
    if skew.too_large:
        log.warning(
            "CLOCK SKEW: %s (limit %s s). Leases follow the database's clock, but the times this process "
            "writes (next rotation, audit entries) are off by as much: fix the host's time sync.",
            skew.describe(),
            skew.limit,
        )
    return skew


def recent() -> Skew | None:
    """A measurement at most a few seconds old (measured again when older); None if the database did not
    answer. Cached per engine, so a status poll is not a database query each time."""
    global _latest
    engine = db.engine()
    with _lock:
        latest = _latest
    if latest is not None and latest[0] is engine and time.monotonic() - latest[2] < _STATUS_MAX_AGE:
        return _skew(latest[1])
    try:
        seconds = measure()
    except Exception:
        log.debug("could not compare this process's clock with the database's", exc_info=True)
        return None
    with _lock:
        _latest = (engine, seconds, time.monotonic())
    return _skew(seconds)
