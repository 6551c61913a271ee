"""PostgreSQL's connection pool pings a connection before use only when it has been idle (app.db): a dead one is
still replaced before anyone sees it, and a busy process does not pay a round trip per checkout."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import db


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_pooled_connection_killed_while_idle_is_replaced_before_anyone_uses_it(postgres_database):
    engine = db.make_engine(postgres_database)
    admin = create_engine(make_url(db.normalise_url(postgres_database)), isolation_level="AUTOCOMMIT")
    try:
        killed = _backend_pid(engine)
        with admin.connect() as connection:  # what a database restart does to every pooled connection
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed}).scalar_one()
        time.sleep(db.PING_AFTER_IDLE_SECONDS + 0.2)
        assert _backend_pid(engine) != killed  # no error: the ping found it dead and the pool reconnected
    finally:
        engine.dispose()
        admin.dispose()


def test_a_connection_used_within_the_window_is_not_pinged_and_an_idle_one_is(postgres_database, monkeypatch):
    engine = db.make_engine(postgres_database)
    pings = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(connection) or ping(connection))
    try:
        first = _backend_pid(engine)  # a new connection: alive by definition
        assert [_backend_pid(engine) for _ in range(20)] == [first] * 20
        assert pings == []
        time.sleep(db.PING_AFTER_IDLE_SECONDS + 0.2)
        assert _backend_pid(engine) == first
        assert len(pings) == 1
    finally:
        engine.dispose()
