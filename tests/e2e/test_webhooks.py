"""Issue 14's webhook acceptance against real processes, on SQLite and PostgreSQL: a failed rotation reaches a
loopback receiver signed as the spec says; a receiver down for 30 s gets every event once it is back; and a
`keyturn worker` SIGKILLed mid-delivery loses none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from app import db
from app.models import WebhookDelivery
from tests.factories import (
    ADMIN_TOKEN,
    OR,
    ROOT,
    ROOT_KEY,
    WebhookReceiver,
    create_webhook,
    keyturn_server,
    post_rotation,
    wait_until,
)

pytestmark = pytest.mark.slow
SECRET_KEY = "whsec-test-key"
FAST_RETRIES = {"KEYTURN_WEBHOOK_RETRY_BASE_SECONDS": "0.5", "KEYTURN_WEBHOOK_RETRY_MAX_SECONDS": "2"}


def _env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    env.update(
        {
            "KEYTURN_DATABASE_URL": settings.database_url,
            "KEYTURN_ROOT_KEY": ROOT_KEY,
            "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
            "KEYTURN_OPENROUTER_BASE_URL": settings.openrouter_base_url,
            "KEYTURN_AROUTER_BASE_URL": settings.arouter_base_url,
            "KEYTURN_WORKER_POLL_SECONDS": "0.2",
            "KEYTURN_LEASE_SECONDS": "2",
            "KEYTURN_WEBHOOK_ALLOW_PRIVATE": "true",
            **FAST_RETRIES,
        }
    )
    return env


def _start_worker(settings, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=ROOT,
        env=_env(settings),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _events_with_rotations(client, project, connection, rotations: int) -> set[str]:
    """A rotation created and rotated `rotations` times through the API (worker off): its events' ids."""
    rotation = post_rotation(client, project, connection)
    for _ in range(rotations):
        assert client.post(f"{OR}/{rotation['id']}/rotate-secrets").status_code == 200
    with db.unit_of_work() as session:
        return {row.event_id for row in session.exec(select(WebhookDelivery)).all()}


def _all_delivered() -> bool:
    with db.unit_of_work() as session:
        return {row.status for row in session.exec(select(WebhookDelivery)).all()} == {"delivered"}


def test_a_failed_rotation_reaches_the_receiver_signed(db_url, openrouter, tmp_path):
    env = {
        "KEYTURN_DATABASE_URL": db_url,
        "KEYTURN_ROOT_KEY": ROOT_KEY,
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_OPENROUTER_BASE_URL": openrouter.base_url,
        "KEYTURN_WORKER": "embedded",
        "KEYTURN_WORKER_POLL_SECONDS": "0.5",
        "KEYTURN_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    with WebhookReceiver() as receiver, keyturn_server(env, tmp_path, log=tmp_path / "serve.log") as (url, _server):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
        project = api.post("/api/v1/projects", json={"projectName": "hooks"}).json()["project"]
        connection = api.post(
            "/api/v1/app-connections/open-router",
            json={
                "name": "hooks",
                "method": "api-key",
                "projectId": project["id"],
                "credentials": {"apiKey": openrouter.create_management_key()},
            },
        ).json()["appConnection"]
        create_webhook(api, project, receiver.url, eventsFilter=[{"eventName": "secrets.rotation-failed"}])
        rotation = post_rotation(api, project, connection)
        openrouter.add_fault("POST", r"/keys$", kind="status", status=500)
        assert api.post(f"{OR}/{rotation['id']}/rotate-secrets").status_code == 502

        (got,) = wait_until(lambda: receiver.events("secrets.rotation-failed"), 30, "secrets.rotation-failed")
    assert got.signature_valid(SECRET_KEY)
    assert got.headers["x-keyturn-event-id"] == got.json["eventId"]
    project_fields = got.json["project"]
    assert project_fields["rotationName"] == rotation["name"] and project_fields["triggeredManually"] is True
    assert project_fields["errorCategory"] == "provider-error" and "workspaceId" not in project_fields
    assert openrouter.create_management_key()[:8] not in got.body.decode()  # no provider key material
    assert len(receiver.received) == 1  # the filter kept secrets.modified of the create away


def test_a_receiver_down_for_30_seconds_gets_every_event_once_back(client, project, connection, settings, tmp_path):
    settings.webhook_allow_private = True
    receiver = WebhookReceiver()  # not started: its port refuses connections
    create_webhook(client, project, receiver.url)
    expected = _events_with_rotations(client, project, connection, rotations=2)
    assert len(expected) == 5  # create: modified; each rotation: succeeded and modified
    worker = _start_worker(settings, tmp_path / "worker.log")
    try:
        time.sleep(30)
        with db.unit_of_work() as session:
            attempts = [row.attempts for row in session.exec(select(WebhookDelivery)).all()]
        assert min(attempts) >= 2, f"the worker should have kept retrying while the receiver was down: {attempts}"
        with receiver:
            wait_until(lambda: receiver.event_ids() >= expected and _all_delivered(), 30, "every event")
    finally:
        _stop(worker)
    assert receiver.event_ids() == expected
    assert all(r.signature_valid(SECRET_KEY) for r in receiver.received)


def test_no_event_is_lost_when_the_worker_is_killed_mid_delivery(client, project, connection, settings, tmp_path):
    settings.webhook_allow_private = True
    with WebhookReceiver(delay=5) as receiver:  # slow: the worker is killed with posts in flight
        create_webhook(client, project, receiver.url)
        expected = _events_with_rotations(client, project, connection, rotations=2)
        doomed = _start_worker(settings, tmp_path / "doomed.log")
        try:
            wait_until(lambda: receiver.arrived >= 1, 30, "a delivery in flight")
            os.kill(doomed.pid, signal.SIGKILL)
            assert doomed.wait(timeout=10) == -signal.SIGKILL
        finally:
            _stop(doomed)
        assert not _all_delivered()
        receiver.delay = 0
        survivor = _start_worker(settings, tmp_path / "survivor.log")
        try:
            # The dead worker's claims lapse after the claim time (at least the 10 s timeout plus 5 s).
            wait_until(lambda: receiver.event_ids() >= expected and _all_delivered(), 60, "every event after the kill")
        finally:
            _stop(survivor)
    assert receiver.event_ids() == expected
