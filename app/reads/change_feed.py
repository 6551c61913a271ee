"""Tells this process whether anything a cached read depends on has changed, in any process.

`stamp()` returns a value that differs whenever the database has seen a watched change since a
previous call (see app.reads.change_feed_schema), or None when that cannot be known right now; the
read cache serves an entry only while the stamp it was filled under is still current.

- SQLite: the stamp is the trigger-maintained counter, re-read on a private connection whenever SQLite's
  shared-memory WAL index shows any commit (see SqliteFeed). Exact: a commit is visible to the next read.
- PostgreSQL: a background thread LISTENs; each notification bumps a local counter. Reading the database
  per request would halve throughput, so the trade-off is the delivery delay of NOTIFY (well under a
  millisecond on one host) after a commit. While the listener is not connected the stamp is None, so
  nothing is served from cache; on (re)connect the stamp moves, dropping everything cached before.
"""

from __future__ import annotations

import logging
import mmap
import sqlite3
import threading

from sqlalchemy.engine import Engine

from app.reads import change_feed_schema as schema

log = logging.getLogger("keyturn.read_cache")


class SqliteFeed:
    """Reads the counter, but only after SQLite's shared WAL index says some commit happened.

    In WAL mode every commit changes the wal-index header at the start of the `-shm` file (documented in
    SQLite's WAL format), which every connection maps into memory. Comparing those bytes costs no system
    call; when they differ, one query reads the counter. The header is read before the query, so the stamp
    kept with it is never older than the header. Without a `-shm` file every call queries.
    """

    HEADER_BYTES = 48

    def __init__(self, database: str):
        self._database = database
        self._conn: sqlite3.Connection | None = None
        self._shm: mmap.mmap | None = None
        self._seen: tuple[bytes, int] | None = None  # (wal-index header, counter read after it)
        self._usable = True
        self._lock = threading.Lock()

    def _query(self) -> int | None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._database, check_same_thread=False)
                # A migration that rebuilds a watched table on SQLite drops its triggers: check them all.
                installed = self._conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?",
                    (schema.TRIGGER_PREFIX + "%",),
                ).fetchone()[0]
                if installed != schema.SQLITE_TRIGGER_COUNT:
                    raise sqlite3.OperationalError("change triggers missing")
            row = self._conn.execute(f"SELECT n FROM {schema.TABLE} WHERE id = 1").fetchone()
        except sqlite3.Error:
            self._usable = False
            log.warning("read cache off: the change triggers are not installed (run the migrations)")
            return None
        if self._shm is None:
            self._shm = _map_shm(self._database + "-shm")
        return row[0] if row else None

    def stamp(self) -> int | None:
        if not self._usable:
            return None
        shm = self._shm
        header = shm[: self.HEADER_BYTES] if shm is not None else None
        seen = self._seen
        if header is not None and seen is not None and seen[0] == header:
            return seen[1]
        with self._lock:
            value = self._query()
        if header is not None and value is not None:
            self._seen = (header, value)
        return value

    def stop(self) -> None:
        self._usable = False


def _map_shm(path: str) -> mmap.mmap | None:
    try:
        with open(path, "rb") as handle:
            return mmap.mmap(handle.fileno(), SqliteFeed.HEADER_BYTES, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None  # not in WAL mode: query every time


class PostgresFeed:
    """One LISTEN connection per process, reconnecting on failure."""

    def __init__(self, url: str):
        self._url = url
        self._counter = 0
        self._connected = False
        self._down = False  # an outage already logged
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keyturn-change-feed", daemon=True)
        self._thread.start()

    def stamp(self) -> int | None:
        return self._counter if self._connected else None

    def stop(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        import psycopg

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    found = conn.execute(
                        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE %s AND NOT tgisinternal",
                        (schema.TRIGGER_PREFIX + "%",),
                    ).fetchone()
                    if found is None or found[0] != schema.POSTGRESQL_TRIGGER_COUNT:
                        log.warning("read cache off: the change triggers are not installed (run the migrations)")
                        return
                    conn.execute(f"LISTEN {schema.CHANNEL}")
                    self._counter += 1  # anything cached before this connection is suspect
                    self._connected = True
                    if self._down:
                        log.info("change feed reconnected; read cache on")
                        self._down = False
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._counter += 1
            except Exception as exc:  # noqa: BLE001 - any failure: stop serving from cache, retry
                # Said once per outage, not at every retry (one a second while the database is away).
                if not self._stopping.is_set() and not self._down:
                    log.warning("change feed disconnected (%s); read cache off until it reconnects", type(exc).__name__)
                    self._down = True
            finally:
                self._connected = False
                self._counter += 1
            self._stopping.wait(1.0)


def feed_for(engine: Engine) -> SqliteFeed | PostgresFeed | None:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return SqliteFeed(url.database)
    if url.get_backend_name() == "postgresql":
        return PostgresFeed(url.set(drivername="postgresql").render_as_string(hide_password=False))
    return None
