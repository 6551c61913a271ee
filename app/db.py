"""Engine, request sessions and the worker's session scope."""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ClauseElement, ColumnElement, Float, bindparam, event, literal
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, create_engine
from sqlmodel.sql.sqltypes import UTCDateTime


class _BoundToEngine(Protocol):
    engine: Engine

    def close(self) -> None: ...


T = TypeVar("T", bound=_BoundToEngine)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs, the form users and CI write."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _create_private_file(path: Path) -> None:
    """The database holds ciphertexts and hashes: only keyturn's user may read it. SQLite gives its WAL and
    shared-memory files the database file's mode, so creating the file first (empty is a valid database)
    covers all three."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


# Every engine this process made, for `_close_pooled_connections`.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _close_pooled_connections() -> None:
    """Run just before this process forks (`keyturn serve` forks its web processes from a parent that built the
    app): a connection shared by two processes mixes their conversations with the database, and a child that
    closed its copy would end the parent's session. So every pool closes the connections it holds, and each
    process opens its own afterwards. A connection checked out at that moment is not in the pool; serve's parent
    holds none (it serves nothing)."""
    for made in list(_engines):
        made.dispose()


os.register_at_fork(before=_close_pooled_connections)


def make_engine(url: str) -> Engine:
    """`hide_parameters`: database errors reach logs, and their bound values must not (ciphertexts, hashes)."""
    engine = _make_engine(url)
    _engines.add(engine)
    return engine


def _make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20, hide_parameters=True)
    _ping_after_idle(engine)
    return engine


# A pooled connection used this recently is taken to be alive (HikariCP's aliveBypassWindowMs has the same
# default): a busy process checks connections out thousands of times a second, and pinging each checkout, as
# pool_pre_ping does, cost 4% of the rotation worker's CPU. One idle longer is pinged first, as pool_pre_ping would.
PING_AFTER_IDLE_SECONDS = 0.5


def _ping_after_idle(engine: Engine) -> None:
    """pool_pre_ping, skipped for a connection used within PING_AFTER_IDLE_SECONDS. A dead connection found by the
    ping is replaced before anyone sees it, and every pooled connection older than it is replaced too (the database
    restarted): a restart notices no error, unless it happened in the half second after a connection's last use."""

    def _used(_dbapi_connection: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("used_at", 0.0) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise InvalidatePoolError() from error  # the pool reconnects, then retries the checkout

    event.listen(engine, "connect", _used)
    event.listen(engine, "checkin", _used)
    event.listen(engine, "checkout", _ping_if_idle)


class _DatabaseNow(FunctionElement[datetime]):
    """The database's clock, plus an offset in seconds; built by `now()`."""

    type = UTCDateTime()
    inherit_cache = True
    name = "database_now"


@functools.lru_cache(maxsize=64)  # an element is immutable: one per offset serves every statement
def now(offset_seconds: float = 0.0) -> _DatabaseNow:
    """The database's current time (+ `offset_seconds`), evaluated in the SQL itself.

    Leases and ages are compared with this rather than with the process clock, so processes whose
    clocks disagree still agree on who holds a lease. No extra round trip: it is part of the statement.
    The offset is a bound value, so the statement's cache key does not change with it."""
    return _DatabaseNow(literal(float(offset_seconds), Float))


@compiles(_DatabaseNow)
def _now_postgresql(element: _DatabaseNow, compiler: SQLCompiler, **kw: Any) -> str:
    # statement_timestamp(), not now(): now() is frozen at the start of the transaction, and a lease is
    # renewed inside transactions that may already have run for a while.
    offset = compiler.process(element.clauses, **kw)
    return f"(statement_timestamp() + ({offset}) * interval '1 second')"


@compiles(_DatabaseNow, "sqlite")
def _now_sqlite(element: _DatabaseNow, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores a UTC datetime on SQLite as 'YYYY-MM-DD HH:MM:SS.ffffff' text; this renders the
    # same layout (strftime's %f has milliseconds, the literal 000 pads it to microseconds), so text
    # comparison is time comparison. SQLite's clock is the host's: every process on it shares that clock.
    offset = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f000', 'now', printf('%.6f seconds', {offset}))"


class _PlusSeconds(FunctionElement[datetime]):
    """A timestamp column plus a number of seconds (an integer column or value); built by `plus_seconds()`."""

    type = UTCDateTime()
    inherit_cache = True
    name = "plus_seconds"


def plus_seconds(moment: Any, seconds: Any) -> _PlusSeconds:
    """`moment + seconds`, in SQL, comparable with `now()`: an age that is stored as a start and a length."""
    return _PlusSeconds(moment, seconds)


@compiles(_PlusSeconds)
def _plus_seconds_postgresql(element: _PlusSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    moment, seconds = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({moment} + ({seconds}) * interval '1 second')"


@compiles(_PlusSeconds, "sqlite")
def _plus_seconds_sqlite(element: _PlusSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # The layout of `now()` on SQLite, so the two compare as text.
    moment, seconds = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"strftime('%Y-%m-%d %H:%M:%f000', {moment}, printf('%d seconds', {seconds}))"


class _Qualified(FunctionElement[Any]):
    """A subquery compiled with table-qualified columns; built by `qualified()`."""

    inherit_cache = True
    name = "qualified"

    def __init__(self, element: ColumnElement[Any]) -> None:
        super().__init__(element)
        self.type = element.type


def qualified(element: ColumnElement[Any]) -> _Qualified:
    """`element` (a correlated subquery) for a RETURNING clause. SQLAlchemy writes SQLite's RETURNING without table
    names, and the subqueries in it too: `rotation_id = id` there would compare two columns of the subquery's own
    table, not its table's column with the updated row's. Here every column keeps its table's name."""
    return _Qualified(element)


@compiles(_Qualified)
def _qualified(element: _Qualified, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **{**kw, "include_table": True})


def split_values(values: dict[str, Any]) -> tuple[tuple[str, ...], tuple[tuple[str, Any], ...], dict[str, Any]]:
    """For a statement built once and run many times (see `set_clause`): the names of `values` given as plain
    values, the (name, SQL expression) pairs, and the parameters that carry the plain values."""
    plain = tuple(sorted(name for name, value in values.items() if not isinstance(value, ClauseElement)))
    expressions = tuple(sorted((n, v) for n, v in values.items() if isinstance(v, ClauseElement)))
    return plain, expressions, {f"v_{name}": values[name] for name in plain}


def set_clause(plain: tuple[str, ...], expressions: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """The SET clause of a cached statement: a bound parameter `v_<name>` per plain value, expressions inline.

    Hot statements are built once per shape and reused (an lru_cache keyed by `split_values`' first two parts):
    building a statement and computing its cache key cost more CPU than running it."""
    return {**{name: bindparam(f"v_{name}") for name in plain}, **dict(expressions)}


_engine: Engine | None = None


def install_engine(engine: Engine) -> None:
    global _engine
    _engine = engine


def engine() -> Engine:
    if _engine is None:
        raise RuntimeError("database engine not installed; call app.bootstrap.configure() first")
    return _engine


@contextmanager
def unit_of_work(bind: Engine | None = None) -> Iterator[Session]:
    """One transaction: commits when the block ends, rolls back when it raises.

    The only place a Session is built. Requests get one per request (`get_session`); the engine takes
    one per step that must be durable before a side effect (an intent before a provider call). `bind`:
    an engine other than the installed one (a per-engine object writing to the engine it was built for)."""
    with Session(bind or engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_session() -> Iterator[Session]:
    """FastAPI dependency: the request's unit of work. Services add and flush; this commits once the
    handler returns and rolls back if it raises (use it with `Depends(..., scope="function")`, so the
    commit happens before the response is sent)."""
    with unit_of_work() as session:
        yield session


class PerEngine(Generic[T]):
    """One object per process bound to the current engine, rebuilt (the old one closed) when the engine
    changes, as it does between tests. `factory(engine)` builds it; the object has `.engine` and `.close()`."""

    def __init__(self, factory: Callable[[Engine], T]):
        self._factory = factory
        self._lock = threading.Lock()
        self.current: T | None = None

    def get(self, engine: Engine) -> T:
        current = self.current
        if current is not None and current.engine is engine:
            return current  # the hot path: no lock
        with self._lock:
            if self.current is None or self.current.engine is not engine:
                if self.current is not None:
                    self.current.close()
                self.current = self._factory(engine)
            return self.current
