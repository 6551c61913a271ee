"""Readiness: what /api/status reports and /readyz enforces. Each check is a name, a verdict and one line that
names no secret:

- `database`: the database answers and is at the latest migration;
- `worker`: some rotation worker (embedded or separate) beat within three poll intervals;
- `change-feed`: the read cache hears of database changes (PostgreSQL LISTEN, or SQLite's change counter);
- `clock-skew`: this process's clock is within the limit of the database's.

/api/status needs no token, so a report serves every caller for a second: polling it cannot load the database.
The first check of a process starts its change feed (if no read has yet) and gives it a moment to connect.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass

from sqlalchemy import text

from app import clock_skew, db
from app.config import get_settings
from app.migrate import head_revision
from app.reads.cache import cache_for
from app.store import worker_heartbeats

REPORT_MAX_AGE_SECONDS = 1.0
HEARTBEAT_POLLS = 3  # a worker is alive while its last beat is younger than this many poll intervals
FEED_START_SECONDS = 2.0  # how long a change feed started by the first check may take to connect


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failing(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)


@functools.cache
def _head() -> str:
    return head_revision()


def _database_and_worker() -> tuple[Check, Check]:
    limit = HEARTBEAT_POLLS * get_settings().worker_poll_seconds
    try:
        with db.unit_of_work() as session:
            current = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
            age = worker_heartbeats.newest_age_seconds(session)
    except Exception as exc:  # noqa: BLE001 - an unreachable database is this check's answer, not an error
        database = Check("database", False, f"the database does not answer ({type(exc).__name__})")
        return database, Check("worker", False, "unknown: the database does not answer")
    if current == _head():
        database = Check("database", True, "reachable, at the latest migration")
    else:
        database = Check("database", False, f"at migration {current or 'none'}, keyturn needs {_head()}")
    if age is None:
        worker = Check("worker", False, "no rotation worker has beaten")
    elif age > limit:
        worker = Check("worker", False, f"no rotation worker heartbeat for {age:.0f} s (limit {limit:g} s)")
    else:
        worker = Check("worker", True, f"a rotation worker beat {max(age, 0):.1f} s ago")
    return database, worker


def _change_feed() -> Check:
    global _feed_seen
    try:
        cache = cache_for(db.engine())
        listening = cache.stamp() is not None
        if not listening and cache is not _feed_seen:  # a feed started by this check: let it connect first
            deadline = time.monotonic() + FEED_START_SECONDS
            while not listening and time.monotonic() < deadline:
                time.sleep(0.05)
                listening = cache.stamp() is not None
        _feed_seen = cache
    except Exception as exc:  # noqa: BLE001 - a feed that cannot even say is not listening
        return Check("change-feed", False, f"the change feed failed ({type(exc).__name__})")
    if listening:
        return Check("change-feed", True, "listening")
    return Check("change-feed", False, "not listening: reads are not cached until it is")


def _clock() -> tuple[Check, float | None]:
    skew = clock_skew.recent()
    if skew is None:
        return Check("clock-skew", False, "could not compare this process's clock with the database's"), None
    if skew.too_large:
        return Check("clock-skew", False, f"{skew.describe()} (limit {skew.limit:g} s)"), skew.seconds
    return Check("clock-skew", True, f"within {skew.limit:g} s of the database's"), skew.seconds


@dataclass(frozen=True)
class Health:
    report: Report
    clock_skew_seconds: float | None


_lock = threading.Lock()
_feed_seen: object | None = None  # the read cache whose feed a check has already waited for
_latest: tuple[object, float, Health] | None = None  # (engine, monotonic time, health)


def current() -> Health:
    """Every check, at most REPORT_MAX_AGE_SECONDS old (per process and engine)."""
    global _latest
    engine = db.engine()
    with _lock:
        latest = _latest
        if latest is not None and latest[0] is engine and time.monotonic() - latest[1] < REPORT_MAX_AGE_SECONDS:
            return latest[2]
        database, worker = _database_and_worker()
        clock, skew = _clock()
        health = Health(Report((database, worker, _change_feed(), clock)), skew)
        _latest = (engine, time.monotonic(), health)
        return health
