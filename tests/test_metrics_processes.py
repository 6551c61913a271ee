"""Issue 14 against real processes, on SQLite and PostgreSQL:

- with the API as two web processes (and the embedded worker), /metrics sums the counters of every process, and a
  rotation failure (an emulator fault) shows in it;
- an API-only replica beside a separate `keyturn worker`: /readyz answers 503 within 15 s of the worker's SIGKILL,
  and 200 again once a worker runs; the worker serves its own work metrics on KEYTURN_WORKER_METRICS_PORT;
- KEYTURN_LOG_FORMAT=json: every line is one JSON object, and no secret reaches the log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.api.test_audit_events import emulator_keys
from tests.api.test_metrics import samples, value
from tests.api.test_secrets_read import PYTHON_SDK_QUERY
from tests.factories import (
    ADMIN_TOKEN,
    OR,
    ROOT,
    ROOT_KEY,
    free_port,
    grant,
    keyturn_server,
    make_machine,
    seed_body,
    token_for,
    wait_until,
)
from tests.test_serve import started

pytestmark = pytest.mark.slow

ROTATION_TYPE = "open-router-api-key"


def _env(settings, **extra: str) -> dict[str, str | None]:
    cleared: dict[str, str | None] = {name: None for name in os.environ if name.startswith("KEYTURN_")}
    return {
        **cleared,
        "KEYTURN_DATABASE_URL": settings.database_url,
        "KEYTURN_ROOT_KEY": ROOT_KEY,
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_OPENROUTER_BASE_URL": settings.openrouter_base_url,
        "KEYTURN_AROUTER_BASE_URL": settings.arouter_base_url,
        "KEYTURN_CLIENT_SECRET_HASH_COST": "low",
        "KEYTURN_WORKER_POLL_SECONDS": "1",
        "KEYTURN_HTTP_TIMEOUT_SECONDS": "5",
        **extra,
    }


def _admin(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)


def _rotation_and_reader(api: httpx.Client, openrouter) -> tuple[dict, dict, str, str]:
    """A project, an OpenRouter rotation in `prod`, and a viewer identity: (project, rotation, read URL, token)."""
    project = api.post("/api/v1/projects", json={"projectName": "billing", "slug": "billing-app"}).json()["project"]
    connection = api.post(
        "/api/v1/app-connections/open-router",
        json={
            "name": "or",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": openrouter.create_management_key()},
        },
    ).json()["appConnection"]
    response = api.post(OR, json=seed_body(project, connection, environment="prod"))
    assert response.status_code == 200, response.text
    machine = make_machine(api)
    grant(api, project["id"], machine.identity_id, "viewer")
    url = f"/api/v3/secrets/raw/OPEN_ROUTER_API_KEY?workspaceId={project['id']}&environment=prod&{PYTHON_SDK_QUERY}"
    return project, response.json()["secretRotation"], url, token_for(api, machine)


def _scrape(base: str) -> dict:
    response = httpx.get(f"{base}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    return samples(response.text)


def _metrics_dir(web_pid: int) -> Path:
    """The directory where the web process counts, from the file of its own it maps there (a forked web process
    has serve's environment as it was at exec, before serve set PROMETHEUS_MULTIPROC_DIR)."""
    maps = Path(f"/proc/{web_pid}/maps").read_text().splitlines()
    found = {Path(line.split()[-1]).parent for line in maps if line.endswith(f"/counter_{web_pid}.db")}
    assert len(found) == 1, "a web process of serve does not count in a metrics directory of its own"
    return found.pop()


def _reads_of(directory: Path, pid: int) -> float:
    """The reads one process counted, from its own file in the multiprocess directory."""
    collected = MultiProcessCollector.merge([str(directory / f"counter_{pid}.db")], accumulate=False)
    return sum(s.value for m in collected for s in m.samples if s.name == "keyturn_secret_reads_total")


def test_two_web_processes_and_the_embedded_worker_add_up_in_one_scrape(settings, openrouter, tmp_path):
    env = _env(settings, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="embedded")
    with keyturn_server(env, tmp_path, log=tmp_path / "serve.log") as (url, server):
        web, _ = started(server.pid, 2, 1)
        with _admin(url) as api:
            project, rotation, read_url, token = _rotation_and_reader(api, openrouter)
            reads = 40
            for _ in range(reads):  # a connection each: the kernel spreads them over both processes
                assert httpx.get(url + read_url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
            openrouter.add_fault("POST", r"/keys$", kind="status", status=500, times=1)
            assert api.post(f"{OR}/{rotation['id']}/rotate-secrets").status_code == 502
        time.sleep(1.5)  # the read path's counts reach the shared files within a second
        directory = _metrics_dir(web[0])
        per_process = [_reads_of(directory, pid) for pid in web]
        assert all(count > 0 for count in per_process) and sum(per_process) == reads, per_process
        labels = {"rotation_id": rotation["id"], "name": rotation["name"], "project": project["id"]}
        failed = {"type": ROTATION_TYPE, "outcome": "failed", "trigger": "manual"}
        for _ in range(6):  # whichever process answers the scrape, the totals are every process's
            found = _scrape(url)
            assert value(found, "keyturn_secret_reads_total", api="v3", result="200") == reads
            assert value(found, "keyturn_rotations_total", **failed) == 1
            assert value(found, "keyturn_rotation_failed", **labels) == 1
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
    assert not directory.exists()  # serve removes the directory it made


def _worker(env: dict[str, str | None], log: Path) -> subprocess.Popen:
    merged = {name: value for name, value in {**os.environ, **env}.items() if value is not None}
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        env=merged,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
    )


def _ready(url: str) -> int:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def test_readiness_follows_a_separate_worker_killed_and_restarted(settings, tmp_path):
    env = _env(settings, KEYTURN_WEB_WORKERS="1", KEYTURN_WORKER="off")
    metrics_port = free_port()
    worker_env = {**env, "KEYTURN_WORKER_METRICS_PORT": str(metrics_port)}
    with keyturn_server(env, tmp_path, log=tmp_path / "serve.log") as (url, _server):
        assert _ready(url) == 503  # an API-only replica, and no worker yet
        worker = _worker(worker_env, tmp_path / "worker.log")
        try:
            wait_until(lambda: _ready(url) == 200, 30, "/readyz 200 once the worker beats")
            own = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
            assert own.status_code == 200
            assert "# TYPE keyturn_rotations_total counter" in own.text
            assert "keyturn_rotation_failed" not in own.text  # state gauges are the API's to serve
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            killed = time.monotonic()
            wait_until(lambda: _ready(url) == 503, 15, "/readyz 503 after the worker's SIGKILL")
            assert time.monotonic() - killed < 15
            body = httpx.get(f"{url}/api/status").json()
            assert body["checks"]["worker"]["ok"] is False and body["checks"]["database"]["ok"] is True
            worker = _worker(worker_env, tmp_path / "worker.log")
            wait_until(lambda: _ready(url) == 200, 30, "/readyz 200 after a worker restarts")
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)


def test_json_logs_are_one_object_per_line_and_carry_no_secret(settings, openrouter, tmp_path):
    env = _env(
        settings,
        KEYTURN_WEB_WORKERS="2",
        KEYTURN_WORKER="embedded",
        KEYTURN_LOG_FORMAT="json",
        KEYTURN_LOG_LEVEL="DEBUG",
    )
    log = tmp_path / "serve.log"
    with keyturn_server(env, tmp_path, log=log) as (url, server):
        with _admin(url) as api:
            _project, rotation, read_url, token = _rotation_and_reader(api, openrouter)
            assert api.post(f"{OR}/{rotation['id']}/rotate-secrets").status_code == 200
            openrouter.add_fault("POST", r"/keys$", kind="status", status=500, times=1)
            assert api.post(f"{OR}/{rotation['id']}/rotate-secrets").status_code == 502
            assert httpx.get(url + read_url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
            machine = make_machine(api, name="second")
            wrong = httpx.post(
                f"{url}/api/v1/auth/universal-auth/login",
                json={"clientId": machine.client_id, "clientSecret": machine.client_secret[:-4] + "0000"},
            )
            assert wrong.status_code == 401
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(entries) > 10
    for entry in entries:
        assert {"time", "level", "logger", "requestId", "message"} <= set(entry), entry
    about_rotation = [entry for entry in entries if entry.get("rotationId") == rotation["id"]]
    assert any(entry["level"] == "WARNING" for entry in about_rotation), "the failed attempt names its rotation"
    assert any(entry["requestId"].startswith("req-") for entry in about_rotation)
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)  # the server's own lines too
    text = log.read_text()
    secrets = [*emulator_keys(openrouter), token, machine.client_secret, ADMIN_TOKEN, ROOT_KEY.partition(":")[2]]
    for secret in secrets:
        assert secret not in text
