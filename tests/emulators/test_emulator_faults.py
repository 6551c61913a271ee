"""Fault injection, latency, the request log, the control API and standalone mode, driven over raw HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from emulators.control import RemoteEmulator
from emulators.faults import FaultPlan, make_fault
from emulators.openrouter import OpenRouterEmulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def http(openrouter: OpenRouterEmulator):
    management = openrouter.create_management_key()
    with httpx.Client(
        base_url=openrouter.base_url, timeout=2.0, headers={"Authorization": f"Bearer {management}"}
    ) as client:
        yield client


def test_applied_then_failed_really_creates_the_key(openrouter, http):
    openrouter.add_fault("POST", r"/keys$", kind="applied_then_failed", status=502)
    response = http.post("/keys", json={"name": "ghost"})
    assert response.status_code == 502 and response.json()["error"]["code"] == 502
    assert openrouter.create_count == 1
    assert [k["name"] for k in openrouter.live_keys()] == ["ghost"]


def test_applied_then_drop_creates_the_key_and_closes_the_connection(openrouter, http):
    openrouter.add_fault("POST", r"/keys$", kind="applied_then_drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/keys", json={"name": "ghost"})
    assert [k["name"] for k in openrouter.live_keys()] == ["ghost"]
    assert openrouter.request_log[-1] == ("POST", "/api/v1/keys", None)


def test_drop_does_nothing_and_gives_a_connection_error(openrouter, http):
    openrouter.add_fault("POST", r"/keys$", kind="drop")
    with pytest.raises(httpx.TransportError):
        http.post("/keys", json={"name": "lost"})
    assert openrouter.create_count == 0 and openrouter.live_keys() == []
    assert http.post("/keys", json={"name": "next"}).status_code == 201  # the client recovers


def test_status_fault_skips_the_operation(openrouter, http):
    openrouter.add_fault("POST", r"/keys$", kind="status", status=503)
    assert http.post("/keys", json={"name": "k"}).status_code == 503
    assert openrouter.create_count == 0


def test_rate_limit_fault_sends_retry_after_and_ratelimit_headers(openrouter, http):
    openrouter.add_fault("DELETE", r"/keys/", kind="status", status=429, retry_after=0.25)
    response = http.delete("/keys/" + "a" * 64)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1" and response.headers["retry-after-ms"] == "250"
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(response.headers)
    assert response.json()["error"] == {"code": 429, "message": "Rate limit exceeded", "metadata": None}


def test_latency_fault_delays_then_answers_normally(openrouter, http):
    openrouter.add_fault("GET", r"/keys$", kind="latency", delay=0.3)
    started = time.monotonic()
    assert http.get("/keys").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    http.get("/keys")
    assert time.monotonic() - started < 0.2


def test_latency_longer_than_client_timeout_is_a_timeout(openrouter, http):
    openrouter.add_fault("POST", r"/keys$", kind="latency", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.post("/keys", json={"name": "slow"}, timeout=0.1)
    time.sleep(0.5)
    assert [k["name"] for k in openrouter.live_keys()] == ["slow"]  # created anyway: ambiguous


def test_fixed_latency_applies_to_every_api_call(openrouter, http):
    openrouter.set_latency(0.1)
    started = time.monotonic()
    http.get("/keys")
    http.get("/keys")
    assert time.monotonic() - started >= 0.2


def test_times_none_fires_forever_and_clear_removes_it(openrouter, http):
    openrouter.add_fault("GET", r"/keys$", kind="status", status=500, times=None)
    assert [http.get("/keys").status_code for _ in range(3)] == [500, 500, 500]
    openrouter.clear_faults()
    assert http.get("/keys").status_code == 200


def test_fault_matches_method_and_path(openrouter, http):
    openrouter.add_fault("DELETE", r"/keys/", kind="status", status=500)
    assert http.get("/keys").status_code == 200
    assert http.post("/keys", json={"name": "k"}).status_code == 201
    assert http.delete("/keys/" + "b" * 64).status_code == 500


def test_probability_is_reproducible_with_a_seed(openrouter, http):
    def pattern() -> list[int]:
        openrouter.clear_faults()
        openrouter.seed(7)
        openrouter.add_fault("GET", r"/keys$", kind="status", status=500, times=None, probability=0.5)
        return [http.get("/keys").status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 500 in first and 200 in first


def test_reset_forgets_keys_faults_and_counters(openrouter, http):
    http.post("/keys", json={"name": "k"})
    openrouter.add_fault("GET", r".*", kind="status", status=500, times=None)
    openrouter.reset()
    assert openrouter.live_keys() == [] and openrouter.create_count == 0 and openrouter.request_log == []
    assert http.get("/keys").status_code == 401  # the management key is gone too


def test_make_fault_rejects_nonsense():
    with pytest.raises(ValueError):
        make_fault("GET", "/x", kind="explode")
    with pytest.raises(ValueError):
        make_fault("GET", "/x", kind="status", status=200)
    with pytest.raises(ValueError):
        make_fault("GET", "/x", kind="drop", probability=0)


def test_fault_plan_wildcard_method():
    plan = FaultPlan()
    plan.add(make_fault("*", r"/keys", kind="drop", times=2))
    assert plan.take("GET", "/api/v1/keys") is not None
    assert plan.take("POST", "/api/v1/keys") is not None
    assert plan.take("GET", "/api/v1/keys") is None


def test_stop_closes_kept_alive_connections():
    emulator = OpenRouterEmulator().start()
    management = emulator.create_management_key()
    with httpx.Client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {management}"}) as client:
        assert client.get("/keys").status_code == 200
        emulator.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/keys")


def test_control_api_drives_the_emulator(openrouter):
    control = openrouter.control_url
    management = httpx.post(control + "/management-keys", json={"name": "ops"}).json()["key"]
    api = httpx.Client(base_url=openrouter.base_url, headers={"Authorization": f"Bearer {management}"})
    assert (
        httpx.post(
            control + "/faults",
            json={"method": "POST", "path_regex": "/keys$", "kind": "applied_then_failed", "status": 500},
        ).status_code
        == 201
    )
    assert api.post("/keys", json={"name": "ghost"}).status_code == 500
    state = httpx.get(control + "/state").json()
    assert state["create_count"] == 1 and [k["name"] for k in state["live_keys"]] == ["ghost"]
    ghost_key = state["live_keys"][0]["hash"]
    assert httpx.post(control + "/key-works", json={"key": "sk-or-v1-nope"}).json() == {"works": False}
    assert ["POST", "/api/v1/keys", 500] in httpx.get(control + "/requests").json()["requests"]
    assert httpx.post(control + "/faults", json={"kind": "status"}).status_code == 400
    assert httpx.post(control + "/reset").status_code == 200
    assert httpx.get(control + "/state").json()["live_keys"] == []
    assert api.delete(f"/keys/{ghost_key}").status_code == 401
    api.close()


def test_standalone_process(tmp_path):
    key_file = tmp_path / "mgmt"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "emulators", "openrouter", "--port", "0"),
            *("--management-key-file", str(key_file), "--completion-cost", "0.5"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = process.stdout.readline()
        base_url = line.split("base_url=")[1].split()[0]
        management = key_file.read_text().strip()
        assert management not in line
        created = httpx.post(
            base_url + "/keys", json={"name": "standalone"}, headers={"Authorization": f"Bearer {management}"}
        )
        assert created.status_code == 201
        # The start-up price holds, also after a reset over the control API.
        control = line.split("control=")[1].split()[0]
        assert httpx.get(control + "/state").json()["completion_cost"] == 0.5
        httpx.post(control + "/reset")
        assert httpx.get(control + "/state").json()["completion_cost"] == 0.5
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_remote_emulator_client_matches_the_in_process_interface(openrouter):
    remote = RemoteEmulator(openrouter.control_url)
    management = remote.create_management_key()
    remote.add_fault("POST", r"/keys$", kind="applied_then_failed", status=500)
    response = httpx.post(
        openrouter.base_url + "/keys", json={"name": "ghost"}, headers={"Authorization": f"Bearer {management}"}
    )
    assert response.status_code == 500
    assert remote.create_count == 1 and [k["name"] for k in remote.live_keys()] == ["ghost"]
    assert remote.request_log == [("POST", "/api/v1/keys", 500)]
    assert remote.key_works(management) and not remote.key_works("sk-or-v1-nope")
    remote.set_latency(0.0)
    remote.seed(3)
    remote.clear_faults()
    remote.reset()
    assert remote.live_keys() == [] and not remote.key_works(management)


def test_a_burst_of_new_connections_is_accepted_without_a_syn_retransmission(openrouter):
    """A listen backlog as small as socketserver's default (5) drops the SYNs of a burst, and each dropped one costs
    its client at least a 1 s retransmission: every one of 100 simultaneous connects must complete well before that."""
    address = httpx.URL(openrouter.base_url)
    took: list[float] = []

    def connect() -> None:
        started = time.monotonic()
        with socket.create_connection((address.host, address.port), timeout=10):
            took.append(time.monotonic() - started)

    threads = [threading.Thread(target=connect) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(took) == 100 and max(took) < 0.9, sorted(took)[-5:]
