"""GET /api/status: Infisical's body, plus how far this process's clock is from the database's (issue 10, A5) and
keyturn's readiness checks (issue 14); /readyz and ?strict=true answer 503 when a check fails; /healthz is liveness.
tests/test_clock_skew.py runs real processes whose clocks are off; tests/test_metrics_processes.py kills a worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from app import clock_skew, db, timeutil
from app.services import health
from app.store import worker_heartbeats
from tests.api.test_secrets_read import _drop_change_triggers

CHECKS = {"database", "worker", "change-feed", "clock-skew"}


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch):
    monkeypatch.setattr(health, "REPORT_MAX_AGE_SECONDS", 0.0)


@pytest.fixture
def worker_beat(app) -> str:
    with db.unit_of_work() as session:
        worker_heartbeats.beat(session, "host-1-abc123")
    return "host-1-abc123"


def test_status_is_ok_when_every_check_passes(anon_client, worker_beat):
    response = anon_client.get("/api/status")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "date", "status", "clockSkewSeconds", "checks"}
    assert body["message"] == "Ok" and body["status"] == "ok" and body["date"] is None
    assert abs(body["clockSkewSeconds"]) < 1
    assert set(body["checks"]) == CHECKS and all(check["ok"] for check in body["checks"].values())
    for path in ("/readyz", "/api/status?strict=true"):
        assert anon_client.get(path).status_code == 200


def test_without_a_worker_heartbeat_status_says_so_and_readiness_fails(anon_client):
    response = anon_client.get("/api/status")
    assert response.status_code == 200  # Infisical's clients read 200 as "up"
    body = response.json()
    assert body["status"] == "worker" and body["message"] == "no rotation worker has beaten"
    assert body["checks"]["worker"]["ok"] is False and body["checks"]["database"]["ok"] is True
    for path in ("/readyz", "/api/status?strict=true"):
        refused = anon_client.get(path)
        assert refused.status_code == 503 and refused.json()["status"] == "worker"
    assert anon_client.get("/healthz").json() == {"status": "ok"}


def test_a_heartbeat_older_than_three_poll_intervals_is_a_dead_worker(anon_client, worker_beat, settings):
    settings.worker_poll_seconds = 2
    with db.unit_of_work() as session:
        session.execute(
            text("UPDATE worker_heartbeat SET beat_at = :at"), {"at": timeutil.utcnow() - timedelta(seconds=7)}
        )
    body = anon_client.get("/readyz").json()
    assert body["checks"]["worker"]["ok"] is False
    assert body["checks"]["worker"]["message"] == "no rotation worker heartbeat for 7 s (limit 6 s)"
    settings.worker_poll_seconds = 3
    assert anon_client.get("/readyz").status_code == 200


def test_a_database_behind_the_latest_migration_is_not_ready(anon_client, worker_beat):
    with db.unit_of_work() as session:
        current = session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        response = anon_client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["database"] == {
            "ok": False,
            "message": f"at migration 0001, keyturn needs {current}",
        }
    finally:
        with db.unit_of_work() as session:
            session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})


def test_a_clean_worker_stop_takes_its_heartbeat_with_it(anon_client, worker_beat):
    with db.unit_of_work() as session:
        worker_heartbeats.forget(session, worker_beat)
    assert anon_client.get("/readyz").status_code == 503


def test_status_names_the_skew_when_this_process_clock_is_off(anon_client, monkeypatch, worker_beat):
    real = timeutil.utcnow
    monkeypatch.setattr(clock_skew, "utcnow", lambda: real() - timedelta(seconds=42))
    response = anon_client.get("/api/status")
    assert response.status_code == 200  # a restart would not fix the host's clock
    body = response.json()
    assert body["status"] == "clock-skew"
    assert -43 < body["clockSkewSeconds"] < -41
    assert (
        body["message"]
        == f"this process's clock is {-body['clockSkewSeconds']:.1f} s behind the database's (limit 5 s)"
    )
    assert anon_client.get("/readyz").status_code == 503


def test_the_skew_limit_is_a_setting(anon_client, monkeypatch, settings, worker_beat):
    settings.clock_skew_limit_seconds = 60
    real = timeutil.utcnow
    monkeypatch.setattr(clock_skew, "utcnow", lambda: real() + timedelta(seconds=42))
    body = anon_client.get("/api/status").json()
    assert body["status"] == "ok" and 41 < body["clockSkewSeconds"] < 43


def test_start_up_warns_when_the_clock_is_off(anon_client, monkeypatch, caplog):
    real = timeutil.utcnow
    monkeypatch.setattr(clock_skew, "utcnow", lambda: real() + timedelta(seconds=90))
    skew = clock_skew.check_at_start()
    assert skew is not None and skew.too_large and 89 < skew.seconds < 91
    assert any(
        r.levelname == "WARNING" and "CLOCK SKEW: this process's clock is" in r.getMessage() for r in caplog.records
    )


def test_worker_heartbeats_show_in_the_metrics(anon_client, worker_beat):
    from tests.api.test_metrics import scrape, value

    found = scrape(anon_client)
    assert value(found, "keyturn_worker_last_heartbeat_timestamp_seconds", worker_id=worker_beat) == pytest.approx(
        timeutil.utcnow().timestamp(), abs=5
    )


def test_a_change_feed_that_cannot_listen_fails_readiness(anon_client, worker_beat):
    writer = db.engine()
    with writer.begin() as conn:
        restore = _drop_change_triggers(conn)
    try:
        body = anon_client.get("/readyz").json()
        assert body["status"] == "change-feed"
        assert body["checks"]["change-feed"] == {
            "ok": False,
            "message": "not listening: reads are not cached until it is",
        }
    finally:  # the migrated schema is shared by later tests on PostgreSQL
        with writer.begin() as conn:
            for statement in restore:
                conn.exec_driver_sql(statement)
