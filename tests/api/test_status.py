"""GET /api/status: Infisical's body, plus how far this process's clock is from the database's (issue 10, A5).
tests/test_clock_skew.py runs real processes whose clocks are off."""

from __future__ import annotations

from datetime import timedelta

from app import clock_skew, timeutil


def test_status_is_ok_when_the_clocks_agree(anon_client):
    response = anon_client.get("/api/status")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "date", "status", "clockSkewSeconds"}  # nothing more to an anonymous caller
    assert body["message"] == "Ok" and body["status"] == "ok" and body["date"] is None
    assert abs(body["clockSkewSeconds"]) < 1


def test_status_names_the_skew_when_this_process_clock_is_off(anon_client, monkeypatch, settings):
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


def test_the_skew_limit_is_a_setting(anon_client, monkeypatch, settings):
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
