"""Tells this process whether anything a cached read depends on has changed, in any process.

`stamp()` returns a value that differs whenever the database has seen a watched change since a
previous call (see app.reads.change_feed_schema), or None when that cannot be known right now; the
read cache serves an entry only while the stamp it was filled under is still current.

- SQLite: the stamp is the trigger-maintained counter, re-read on a private connection whenever its
  `PRAGMA data_version` shows another connection's commit (see SqliteFeed). Exact: a commit is visible to the
  next read.
- PostgreSQL: a background thread LISTENs; each notification bumps a local counter. Reading the database
  per request would halve throughput, so the trade-off is the delivery delay of NOTIFY (well under a
  millisecond on one host) after a commit. While the listener is not connected the stamp is None, so
  nothing is served from cache; on (re)connect the stamp moves, dropping everything cached before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy.engine import Engine

from app.reads import change_feed_schema as schema

log = logging.getLogger("keyturn.read_cache")


class SqliteFeed:
    """Reads the counter, but only after `PRAGMA data_version` says some other connection committed.

    The pragma, on a private connection, changes whenever any other connection, in any process, has committed
    since this connection last asked. One call costs about 5 µs; when the version moved, one query reads the
    counter. The version is read before the counter, so the stamp kept with it is never older than the version.

    Not by mapping SQLite's `-shm` file and comparing its header, as until 2026-12-01: that opened and closed the
    file outside SQLite, and closing any descriptor of a file drops every POSIX lock the process holds on it,
    SQLite's own included. Another process could then take the shared-memory index for unused and truncate it
    under this process's live connections: SIGBUS in a commit (found by the rotation bench), or a corrupt index.
    """

    def __init__(self, database: str):
        self._database = database
        self._conn: sqlite3.Connection | None = None
        self._seen: tuple[int, int] | None = None  # (data_version, counter read after it)
        self._usable = True
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._database, check_same_thread=False)
        # A migration that rebuilds a watched table on SQLite drops its triggers: check them all.
        installed = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?",
            (schema.TRIGGER_PREFIX + "%",),
        ).fetchone()[0]
        if installed != schema.SQLITE_TRIGGER_COUNT:
            conn.close()
            raise sqlite3.OperationalError("change triggers missing")
        return conn

    def _read(self) -> int | None:
        try:
            if self._conn is None:
                self._conn = self._connect()
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            seen = self._seen
            if seen is not None and seen[0] == version:
                return seen[1]
            row = self._conn.execute(f"SELECT n FROM {schema.TABLE} WHERE id = 1").fetchone()
        except sqlite3.Error:
            self._usable = False
            log.warning("read cache off: the change triggers are not installed (run the migrations)")
            return None
        if row is None:
            return None
        self._seen = (version, row[0])
        return row[0]

    def stamp(self) -> int | None:
        if not self._usable:
            return None
        with self._lock:
            return self._read()

    def stop(self) -> None:
        self._usable = False


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
