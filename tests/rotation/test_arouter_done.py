"""What "done" means for the ARouter rotation type, end to end through the API: a rotation created with
arouter-api-key and rotated twice leaves exactly two live keys at ARouter, the published one works at
GET /v1/models, and the history shows generation 1 revoked."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import published_key

ROTATIONS = "/api/v2/secret-rotations/arouter-api-key"


def models_status(case, api_key: str) -> int:
    """What ARouter's verification endpoint answers this key, asked over the wire."""
    response = httpx.get(f"{case.emulator.base_url}/v1/models", headers={"Authorization": f"Bearer {api_key}"})
    return response.status_code


@pytest.mark.parametrize("provider_case", ["arouter"], indirect=True)
def test_arouter_rotation_rotated_twice_leaves_two_live_keys_and_generation_one_revoked(client, provider_case):
    case = provider_case
    created = client.post(
        ROTATIONS,
        json={
            "name": "my-arouter-rotation",
            "projectId": case.project["id"],
            "connectionId": case.connection["id"],
            "environment": "dev",
            "secretPath": "/",
            "isAutoRotationEnabled": True,
            "rotationInterval": 30,
            "rotateAtUtc": {"hours": 0, "minutes": 0},
            "parameters": case.parameters,
            "secretsMapping": {"apiKey": case.secret_name},
        },
    )
    assert created.status_code == 200, created.text
    rotation = created.json()["secretRotation"]
    assert rotation["type"] == "arouter-api-key" and rotation["parameters"] == case.parameters
    first_key = published_key(rotation["id"])

    for expected_index in (1, 0):
        rotated = client.post(f"{ROTATIONS}/{rotation['id']}/rotate-secrets")
        assert rotated.status_code == 200, rotated.text
        body = rotated.json()["secretRotation"]
        assert body["rotationStatus"] == "success" and body["activeIndex"] == expected_index

    history = client.get(f"{ROTATIONS}/{rotation['id']}/history")
    assert history.status_code == 200, history.text
    entries = {e["generation"]: e for e in history.json()["history"]}
    assert {g: e["state"] for g, e in entries.items()} == {1: "revoked", 2: "inactive", 3: "active"}
    assert entries[1]["revokedAt"] is not None

    # Exactly the two published generations are live at ARouter, with the type's parameters.
    live = case.live_keys()
    assert {k["id"] for k in live} == {entries[2]["keyId"], entries[3]["keyId"]}
    assert all(k["spending_limit"] == 50 and k["allowed_providers"] == ["openai", "anthropic"] for k in live)

    # The published key is the active generated credential, and ARouter accepts it; generation 1 is gone.
    credentials = client.get(f"{ROTATIONS}/{rotation['id']}/generated-credentials").json()
    active = credentials["generatedCredentials"][credentials["activeIndex"]]
    current = published_key(rotation["id"])
    assert active == {"apiKey": current, "keyHash": entries[3]["keyId"]}
    # Every generation was verified at GET /v1/models (with the new key) before it was published.
    verified = [r for r in case.emulator.request_log if tuple(r) == ("GET", "/v1/models", 200)]
    assert len(verified) == 3
    assert case.key_works(current) and models_status(case, current) == 200
    assert not case.key_works(first_key) and models_status(case, first_key) == 401
