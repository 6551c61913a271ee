"""Secret rotations API end to end against the OpenRouter emulator: create, read, update, rotate, check,
generated credentials, history and delete (rotation §5, rotation §6, rotation §9, rotation §14).
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import Session

from app import db
from app.rotation import changes, lease
from app.store import secrets as secrets_store
from tests.factories import OR, post_rotation, seed_body

# The field set of the rotation §5.5 example response.
SPEC_FIELDS = {
    "id",
    "name",
    "description",
    "type",
    "parameters",
    "secretsMapping",
    "isAutoRotationEnabled",
    "activeIndex",
    "folderId",
    "connectionId",
    "createdAt",
    "updatedAt",
    "rotationInterval",
    "rotateAtUtc",
    "rotationStatus",
    "lastRotationAttemptedAt",
    "lastRotatedAt",
    "lastRotationJobId",
    "nextRotationAt",
    "isLastRotationManual",
    "lastRotationMessage",
    "connection",
    "environment",
    "projectId",
    "folder",
}
# ...and keyturn's extensions to it: the revocation policy (rotation §14k).
ROTATION_FIELDS = SPEC_FIELDS | {"revocation"}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def published(project: dict, key: str = "OPEN_ROUTER_API_KEY", path: str = "/", env: str = "dev"):
    """(value, version, rotation_id) of a mapped secret, or None."""
    with Session(db.engine()) as session:
        secret = secrets_store.find_secret(session, project["id"], env, path, key)
        if secret is None:
            return None
        return secrets_store.decrypt_value(secret), secret.version, secret.rotation_id


def rotate(client, rotation_id: str) -> dict:
    response = client.post(f"{OR}/{rotation_id}/rotate-secrets")
    assert response.status_code == 200, response.text
    return response.json()["secretRotation"]


# --- R6 create ----------------------------------------------------------------------------------


def test_seed_request_answers_200_in_spec_shape(client, project, connection, openrouter):
    response = client.post(OR, json=seed_body(project, connection))
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"secretRotation"}
    rotation = response.json()["secretRotation"]
    assert set(rotation) == ROTATION_FIELDS
    assert rotation["name"] == "my-open-router-rotation"
    assert rotation["description"] == "OpenRouter API key rotation"
    assert rotation["type"] == "open-router-api-key"
    assert rotation["parameters"] == {
        "name": "my-app-key",
        "limit": 100,
        "limitReset": "monthly",
        "includeByokInLimit": False,
    }
    assert rotation["secretsMapping"] == {"apiKey": "OPEN_ROUTER_API_KEY"}
    assert rotation["isAutoRotationEnabled"] is True
    assert rotation["activeIndex"] == 0
    assert rotation["rotationInterval"] == 30
    assert rotation["rotateAtUtc"] == {"hours": 0, "minutes": 0}
    assert rotation["rotationStatus"] == "success"
    assert rotation["lastRotationJobId"] is None
    assert rotation["lastRotationMessage"] is None
    assert rotation["isLastRotationManual"] is True
    assert rotation["connectionId"] == connection["id"]
    assert rotation["connection"] == {"app": "open-router", "name": connection["name"], "id": connection["id"]}
    assert rotation["environment"]["slug"] == "dev" and rotation["environment"]["name"] == "Development"
    assert set(rotation["environment"]) == {"slug", "name", "id"}
    assert rotation["projectId"] == project["id"]
    assert rotation["folder"] == {"id": rotation["folderId"], "path": "/"}
    for field in ("createdAt", "updatedAt", "lastRotationAttemptedAt", "lastRotatedAt", "nextRotationAt"):
        assert ISO.match(rotation[field]), field
    assert rotation["nextRotationAt"].endswith("T00:00:00.000Z")  # rule 3: padded to a 00:00 boundary

    # The published secret holds a key that works at the provider, minted under the rotation §14c name.
    value, version, owner = published(project)
    assert openrouter.key_works(value)
    assert version == 1 and owner == rotation["id"]
    [live] = openrouter.live_keys()
    assert re.fullmatch(rf"my-app-key-\d{{8}}-g1-{rotation['id'][:8]}", live["name"])
    assert live["limit"] == 100 and live["limit_reset"] == "monthly"


def test_created_rotation_reads_back_the_same_everywhere(client, project, connection):
    rotation = post_rotation(client, project, connection, secretPath="/billing/", rotationInterval="30")
    assert rotation["folder"]["path"] == "/billing" and rotation["rotationInterval"] == 30
    by_id = client.get(f"{OR}/{rotation['id']}").json()["secretRotation"]
    by_name = client.get(
        f"{OR}/rotation-name/{rotation['name']}",
        params={"projectId": project["id"], "environment": "dev", "secretPath": "/billing"},
    ).json()["secretRotation"]
    listed = client.get(OR, params={"projectId": project["id"]}).json()["secretRotations"]
    generic = client.get("/api/v2/secret-rotations", params={"projectId": project["id"]}).json()["secretRotations"]
    assert by_id == by_name == listed[0] == generic[0] == rotation


def test_folder_id_is_stable_per_folder(client, project, connection):
    first = post_rotation(client, project, connection, name="a", secretsMapping={"apiKey": "A"})
    second = post_rotation(client, project, connection, name="b", secretsMapping={"apiKey": "B"})
    other = post_rotation(client, project, connection, name="c", secretsMapping={"apiKey": "C"}, secretPath="/x")
    assert first["folderId"] == second["folderId"] != other["folderId"]


def test_conflicts_after_create_are_400_without_minting(client, project, connection, openrouter):
    post_rotation(client, project, connection)
    minted = openrouter.create_count
    same_name = client.post(OR, json=seed_body(project, connection, secretsMapping={"apiKey": "OTHER"}))
    assert same_name.status_code == 400
    assert "already exists at the secret path" in same_name.json()["message"]
    same_secret = client.post(OR, json=seed_body(project, connection, name="another"))
    assert same_secret.status_code == 400
    assert same_secret.json()["message"] == ('The following secrets already exist at the path "/": OPEN_ROUTER_API_KEY')
    assert openrouter.create_count == minted
    # The same name in another folder is fine.
    post_rotation(client, project, connection, secretPath="/other")


def test_mint_failure_on_create_is_400_and_persists_nothing(client, project, connection, openrouter):
    openrouter.add_fault("POST", r"/keys$", kind="status", status=400)
    response = client.post(OR, json=seed_body(project, connection))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "BadRequest"
    assert client.get(OR, params={"projectId": project["id"]}).json()["secretRotations"] == []
    assert published(project) is None
    assert openrouter.live_keys() == []


def test_verification_failure_on_create_leaves_no_live_key(client, project, connection, openrouter):
    openrouter.add_fault("GET", r"/key$", kind="status", status=401, times=None)
    response = client.post(OR, json=seed_body(project, connection))
    assert response.status_code == 400, response.text
    assert client.get(OR, params={"projectId": project["id"]}).json()["secretRotations"] == []
    assert published(project) is None
    assert openrouter.live_keys() == []


# --- R7 update ------------------------------------------------------------------------------------


def test_update_merges_fields_and_recomputes_the_schedule(client, project, connection):
    rotation = post_rotation(client, project, connection)
    response = client.patch(
        f"{OR}/{rotation['id']}",
        json={
            "name": "renamed",
            "description": None,
            "rotationInterval": 7,
            "rotateAtUtc": {"hours": 23, "minutes": 59},
            "parameters": {"name": "new-prefix"},
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()["secretRotation"]
    assert updated["name"] == "renamed" and updated["description"] is None
    assert updated["rotationInterval"] == 7 and updated["rotateAtUtc"] == {"hours": 23, "minutes": 59}
    assert updated["parameters"] == {"name": "new-prefix"}  # replaced whole
    assert updated["nextRotationAt"] != rotation["nextRotationAt"]
    assert updated["nextRotationAt"].endswith("T23:59:00.000Z")
    assert updated["updatedAt"] >= rotation["updatedAt"]
    disabled = client.patch(f"{OR}/{rotation['id']}", json={"isAutoRotationEnabled": False}).json()["secretRotation"]
    assert disabled["nextRotationAt"] is None and disabled["isAutoRotationEnabled"] is False


def test_update_renames_the_mapped_secret_in_place(client, project, connection, openrouter):
    rotation = post_rotation(client, project, connection)
    value, version, _ = published(project)
    response = client.patch(f"{OR}/{rotation['id']}", json={"secretsMapping": {"apiKey": "LLM_KEY"}})
    assert response.status_code == 200, response.text
    assert response.json()["secretRotation"]["secretsMapping"] == {"apiKey": "LLM_KEY"}
    assert published(project) is None
    assert published(project, "LLM_KEY") == (value, version, rotation["id"])
    # The next rotation publishes under the new name.
    rotate(client, rotation["id"])
    new_value, new_version, _ = published(project, "LLM_KEY")
    assert new_value != value and new_version == version + 1 and openrouter.key_works(new_value)


def test_update_conflicts_are_400(client, project, connection):
    first = post_rotation(client, project, connection)
    post_rotation(client, project, connection, name="second", secretsMapping={"apiKey": "SECOND_KEY"})
    name = client.patch(f"{OR}/{first['id']}", json={"name": "second"})
    assert name.status_code == 400
    assert name.json()["message"] == 'A Secret Rotation with the name "second" already exists at the secret path "/"'
    secret = client.patch(f"{OR}/{first['id']}", json={"secretsMapping": {"apiKey": "SECOND_KEY"}})
    assert secret.status_code == 400
    assert secret.json()["message"] == 'The following secrets already exist at the path "/": SECOND_KEY'
    assert client.get(f"{OR}/{first['id']}").json()["secretRotation"] == first


def test_update_while_a_rotation_runs_is_400(client, project, connection, monkeypatch):
    rotation = post_rotation(client, project, connection)
    monkeypatch.setattr(changes, "LEASE_WAIT_SECONDS", 0.2)
    owner = lease.acquire(rotation["id"])
    try:
        response = client.patch(f"{OR}/{rotation['id']}", json={"description": "x"})
    finally:
        lease.release(rotation["id"], owner)
    assert response.status_code == 400
    assert response.json()["message"] == "A rotation is already in progress. Please try again shortly."
    assert client.patch(f"{OR}/{rotation['id']}", json={"description": "x"}).status_code == 200


# --- R10 rotate, R9 generated credentials, X1 history, R11 check -------------------------------------


def test_rotate_now_publishes_a_new_working_key(client, project, connection, openrouter):
    rotation = post_rotation(client, project, connection)
    first_value, _, _ = published(project)
    rotated = rotate(client, rotation["id"])
    assert set(rotated) == ROTATION_FIELDS
    assert rotated["activeIndex"] == 1 and rotated["isLastRotationManual"] is True
    assert rotated["rotationStatus"] == "success" and rotated["lastRotationMessage"] is None
    value, version, _ = published(project)
    assert value != first_value and version == 2
    assert openrouter.key_works(value) and openrouter.key_works(first_value)  # the previous key stays live


def test_two_rotations_show_generations_two_and_three(client, project, connection, openrouter):
    rotation = post_rotation(client, project, connection)
    first_value, _, _ = published(project)
    rotate(client, rotation["id"])
    second_value, _, _ = published(project)
    after = rotate(client, rotation["id"])
    third_value, _, _ = published(project)
    assert not openrouter.key_works(first_value)  # two generations back: revoked

    response = client.get(f"{OR}/{rotation['id']}/generated-credentials")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"generatedCredentials", "activeIndex", "rotationId", "type"}
    assert body["rotationId"] == rotation["id"] and body["type"] == "open-router-api-key"
    keys = [c["apiKey"] for c in body["generatedCredentials"]]
    assert sorted(keys) == sorted([second_value, third_value])
    assert all(set(c) == {"apiKey", "keyHash"} and c["keyHash"] for c in body["generatedCredentials"])
    assert body["activeIndex"] == after["activeIndex"] == 0
    assert body["generatedCredentials"][body["activeIndex"]]["apiKey"] == third_value

    history = client.get(f"{OR}/{rotation['id']}/history")
    assert history.status_code == 200, history.text
    entries = history.json()["history"]
    assert history.json()["rotationId"] == rotation["id"] and history.json()["type"] == "open-router-api-key"
    assert [e["generation"] for e in entries] == [3, 2, 1]
    assert [e["state"] for e in entries] == ["active", "inactive", "revoked"]
    assert entries[2]["revokedAt"] is not None and entries[0]["revokedAt"] is None
    assert all(
        e["keyId"] and e["publishedAt"] and e["keyName"].endswith(f"-g{e['generation']}-{rotation['id'][:8]}")
        for e in entries
    )
    assert set(entries[0]) == {
        "generation",
        "keyName",
        "keyId",
        "state",
        "createdAt",
        "publishedAt",
        "revokedAt",
        "lastError",
        "supersededAt",
        "heldSince",
        "holdReason",
    }
    # g2 and g1 were superseded when g3 and g2 were published; nothing was held (holds are off in the tests).
    assert entries[0]["supersededAt"] is None and entries[1]["supersededAt"] and entries[2]["supersededAt"]
    assert all(e["heldSince"] is None and e["holdReason"] is None for e in entries)
    for value in (first_value, second_value, third_value):
        assert value not in history.text  # no key material


def test_rotate_now_provider_failure_is_502_with_the_message_stored(client, project, connection, openrouter):
    rotation = post_rotation(client, project, connection)
    value, version, _ = published(project)
    openrouter.add_fault("POST", r"/keys$", kind="status", status=400)
    response = client.post(f"{OR}/{rotation['id']}/rotate-secrets")
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["error"] == "ProviderError" and body["message"]
    stored = client.get(f"{OR}/{rotation['id']}").json()["secretRotation"]
    assert stored["rotationStatus"] == "failed"
    assert stored["lastRotationMessage"] == body["message"]
    assert stored["activeIndex"] == 0
    assert published(project) == (value, version, rotation["id"])  # the old key stays published


def test_check_credentials_is_204_then_400_once_the_key_is_gone(client, project, connection, openrouter):
    rotation = post_rotation(client, project, connection)
    response = client.post(f"{OR}/{rotation['id']}/check-credentials")
    assert response.status_code == 204 and response.content == b""
    [live] = openrouter.live_keys()
    management = openrouter.create_management_key()
    httpx.delete(f"{openrouter.base_url}/keys/{live['hash']}", headers={"Authorization": f"Bearer {management}"})
    failed = client.post(f"{OR}/{rotation['id']}/check-credentials")
    assert failed.status_code == 400
    assert failed.json()["error"] == "BadRequest"


# --- R8 delete --------------------------------------------------------------------------------------


def test_delete_with_revoke_removes_every_key_and_keeps_the_secret(client, project, connection, openrouter):
    rotation = post_rotation(client, project, connection)
    rotate(client, rotation["id"])
    current = client.get(f"{OR}/{rotation['id']}").json()["secretRotation"]
    value, version, _ = published(project)
    response = client.delete(f"{OR}/{rotation['id']}?revokeGeneratedCredentials=true&deleteSecrets=false")
    assert response.status_code == 200, response.text
    assert response.json() == {"secretRotation": current}
    assert openrouter.live_keys() == []
    assert client.get(f"{OR}/{rotation['id']}").status_code == 404
    assert published(project) == (value, version, None)  # an ordinary secret now


def test_delete_with_delete_secrets_leaves_keys_live(client, project, connection, openrouter):
    rotation = post_rotation(client, project, connection)
    response = client.delete(f"{OR}/{rotation['id']}?deleteSecrets=true")
    assert response.status_code == 200, response.text
    assert published(project) is None
    assert len(openrouter.live_keys()) == 1


def test_delete_when_revocation_fails_is_400_and_deletes_nothing(client, project, connection, openrouter):
    rotation = post_rotation(client, project, connection)
    openrouter.add_fault("DELETE", r"/keys/", kind="status", status=500, times=None)
    response = client.delete(f"{OR}/{rotation['id']}?revokeGeneratedCredentials=true&deleteSecrets=true")
    assert response.status_code == 400, response.text
    openrouter.clear_faults()
    assert client.get(f"{OR}/{rotation['id']}").status_code == 200
    assert published(project) is not None
    assert len(openrouter.live_keys()) == 1


@pytest.mark.parametrize("query", ["", "?deleteSecrets=false&revokeGeneratedCredentials=false"])
def test_delete_defaults_keep_secret_and_keys(client, project, connection, openrouter, query):
    rotation = post_rotation(client, project, connection)
    assert client.delete(f"{OR}/{rotation['id']}{query}").status_code == 200
    assert published(project)[2] is None
    assert len(openrouter.live_keys()) == 1


# --- ARouter: the same endpoints from one catalogue entry ---------------------------------------------

AR = "/api/v2/secret-rotations/arouter-api-key"


def test_arouter_rotation_lifecycle(client, project, arouter):
    response = client.post(
        "/api/v1/app-connections/arouter",
        json={
            "name": "my-arouter-connection",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": arouter.create_management_key()},
        },
    )
    assert response.status_code == 200, response.text
    connection = response.json()["appConnection"]
    body = seed_body(
        project,
        connection,
        name="arouter-rotation",
        secretsMapping={"apiKey": "AROUTER_API_KEY"},
        parameters={"name": "my-app", "allowedProviders": ["openai"], "spendingLimit": 50},
    )
    created = client.post(AR, json=body)
    assert created.status_code == 200, created.text
    rotation = created.json()["secretRotation"]
    assert set(rotation) == ROTATION_FIELDS
    assert rotation["type"] == "arouter-api-key" and rotation["connection"]["app"] == "arouter"
    assert rotation["parameters"] == {"name": "my-app", "allowedProviders": ["openai"], "spendingLimit": 50}
    [live] = arouter.live_keys()
    assert live["spending_limit"] == 50
    value, _, _ = published(project, "AROUTER_API_KEY")
    assert arouter.key_works(value)

    rotated = client.post(f"{AR}/{rotation['id']}/rotate-secrets")
    assert rotated.status_code == 200, rotated.text
    credentials = client.get(f"{AR}/{rotation['id']}/generated-credentials").json()
    assert len(credentials["generatedCredentials"]) == 2
    active = credentials["generatedCredentials"][credentials["activeIndex"]]
    assert set(active) == {"apiKey", "keyHash"}  # same shape as OpenRouter; keyHash holds ARouter's key id
    assert active["apiKey"] == published(project, "AROUTER_API_KEY")[0]
    assert client.get(f"{OR}/{rotation['id']}").status_code == 400  # wrong type in the URL
    deleted = client.delete(f"{AR}/{rotation['id']}?revokeGeneratedCredentials=true&deleteSecrets=true")
    assert deleted.status_code == 200, deleted.text
    assert arouter.live_keys() == []
