"""Issue acceptance: with the seconds unit and `rotationInterval: 5`, `keyturn serve`'s embedded worker
rotates on its own at least 3 times within 30 seconds, and every published key works at the provider."""

from __future__ import annotations

import time

import httpx
import pytest

from emulators.openrouter import OpenRouterEmulator
from tests.factories import ADMIN_TOKEN, ROOT_KEY, keyturn_server

pytestmark = pytest.mark.slow
TYPE_PATH = "/api/v2/secret-rotations/open-router-api-key"


def test_embedded_worker_rotates_three_times_in_thirty_seconds(db_url, openrouter: OpenRouterEmulator, tmp_path):
    env = {
        "KEYTURN_DATABASE_URL": db_url,
        "KEYTURN_ROOT_KEY": ROOT_KEY,
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_OPENROUTER_BASE_URL": openrouter.base_url,
        "KEYTURN_WORKER": "embedded",
        "KEYTURN_ROTATION_INTERVAL_UNIT": "seconds",
        "KEYTURN_WORKER_POLL_SECONDS": "1",
        "KEYTURN_REVOCATION_MIN_OVERLAP_SECONDS": "0",  # the key two back is revoked within the 30 s
        "KEYTURN_REVOCATION_HOLD_WHILE_IN_USE": "false",  # without waiting for a quiet window of usage
    }
    with keyturn_server(env, tmp_path) as (url, _server):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
        project = api.post("/api/v1/projects", json={"projectName": "e2e"}).json()["project"]
        connection = api.post(
            "/api/v1/app-connections/open-router",
            json={
                "name": "e2e",
                "method": "api-key",
                "projectId": project["id"],
                "credentials": {"apiKey": openrouter.create_management_key()},
            },
        ).json()["appConnection"]
        created = api.post(
            TYPE_PATH,
            json={
                "name": "e2e-rotation",
                "projectId": project["id"],
                "connectionId": connection["id"],
                "environment": "dev",
                "secretPath": "/",
                "rotationInterval": 5,
                "parameters": {"name": "e2e-key"},
                "secretsMapping": {"apiKey": "OPENROUTER_API_KEY"},
            },
        )
        assert created.status_code == 200, created.text
        rotation_id = created.json()["secretRotation"]["id"]
        started = time.monotonic()
        while time.monotonic() - started < 30:
            history = api.get(f"{TYPE_PATH}/{rotation_id}/history").json()["history"]
            if history[0]["generation"] >= 4 and history[0]["state"] == "active":
                break
            time.sleep(0.5)
        rotation = api.get(f"{TYPE_PATH}/{rotation_id}").json()["secretRotation"]
        secret = api.get(
            "/api/v3/secrets/raw/OPENROUTER_API_KEY",
            params={"workspaceId": project["id"], "environment": "dev", "secretPath": "/"},
        ).json()
    assert history[0]["generation"] >= 4, f"only {history[0]['generation'] - 1} scheduled rotations in 30 s"
    assert rotation["isLastRotationManual"] is False and rotation["rotationStatus"] == "success"
    assert secret["secret"]["version"] >= 4
    assert openrouter.key_works(secret["secret"]["secretValue"])
    assert len(openrouter.live_keys()) <= 2 + 1  # two published generations, plus at most one mid-revocation
