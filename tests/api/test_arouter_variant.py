"""`KEYTURN_AROUTER_API_STYLE=openrouter-like` speaks ARouter's public OpenRouter-like API (ARouter §6):
`/api/v1/keys`, ids under `data.hash`, `limit` instead of `spending_limit`; the rest of keyturn is unchanged."""

from __future__ import annotations

import pytest

from emulators.arouter import ARouterEmulator

ROTATIONS = "/api/v2/secret-rotations/arouter-api-key"


@pytest.fixture
def variant_emulator(settings):
    emulator = ARouterEmulator(variant="openrouter-like")
    emulator.start()
    settings.arouter_base_url = emulator.base_url
    settings.arouter_api_style = "openrouter-like"
    yield emulator
    emulator.stop()


def test_rotation_against_the_openrouter_like_variant(client, project, variant_emulator):
    connection = client.post(
        "/api/v1/app-connections/arouter",
        json={
            "name": "arouter-variant",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": variant_emulator.create_management_key()},
        },
    )
    assert connection.status_code == 200, connection.text
    created = client.post(
        ROTATIONS,
        json={
            "name": "variant-rotation",
            "projectId": project["id"],
            "connectionId": connection.json()["appConnection"]["id"],
            "environment": "dev",
            "secretPath": "/",
            "rotationInterval": 30,
            "parameters": {"name": "variant-key", "spendingLimit": 25},
            "secretsMapping": {"apiKey": "AROUTER_API_KEY"},
        },
    )
    assert created.status_code == 200, created.text
    rotation_id = created.json()["secretRotation"]["id"]
    for _ in range(2):
        assert client.post(f"{ROTATIONS}/{rotation_id}/rotate-secrets").status_code == 200
    generated = client.get(f"{ROTATIONS}/{rotation_id}/generated-credentials").json()
    live = variant_emulator.live_keys()
    assert len(live) == 2
    assert {key.get("hash") or key.get("id") for key in live} == {
        c["keyHash"] for c in generated["generatedCredentials"]
    }
    assert all(key.get("limit") == 25 for key in live)
    active = generated["generatedCredentials"][generated["activeIndex"]]["apiKey"]
    assert variant_emulator.key_works(active)
    paths = {path for _method, path, _status in variant_emulator.request_log}
    assert any(path.startswith("/api/v1/keys") for path in paths)
    assert not any(path.startswith("/v1/keys") for path in paths)
