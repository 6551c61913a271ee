"""Secret rotations API: options, lists, look-ups, auth and validation (rotation §2.1, rotation §5, rotation §14a/b).

These tests need no provider call: they pin the checks that run before the engine is reached.
"""

from __future__ import annotations

import copy
import uuid

import pytest

from app import db
from tests.factories import BASE, OR, insert_rotation, seed_body

AR = f"{BASE}/arouter-api-key"
UNKNOWN_ID = "3b1d2f0e-7a3c-4a8e-9b52-0d6c2f1e9a11"


def issues(response) -> list[tuple[tuple, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationFailure" and body["statusCode"] == 422
    assert isinstance(body["message"], list)
    return [(tuple(issue["path"]), issue["message"]) for issue in body["message"]]


# --- authentication and routing ---------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", f"{BASE}/options"),
        ("GET", f"{BASE}?projectId=x"),
        ("GET", f"{OR}?projectId=x"),
        ("GET", f"{OR}/{UNKNOWN_ID}"),
        ("POST", OR),
        ("PATCH", f"{OR}/{UNKNOWN_ID}"),
        ("DELETE", f"{OR}/{UNKNOWN_ID}"),
        ("GET", f"{OR}/{UNKNOWN_ID}/generated-credentials"),
        ("POST", f"{OR}/{UNKNOWN_ID}/rotate-secrets"),
        ("POST", f"{OR}/{UNKNOWN_ID}/check-credentials"),
        ("GET", f"{OR}/{UNKNOWN_ID}/history"),
    ],
)
def test_every_endpoint_needs_a_token(anon_client, method, path):
    response = anon_client.request(method, path, json={} if method in ("POST", "PATCH") else None)
    assert response.status_code == 401
    assert response.json()["error"] == "UnauthorizedError"


def test_move_is_not_served(client):
    response = client.post(f"{OR}/{UNKNOWN_ID}/move", json={"destinationEnvironment": "prod"})
    assert response.status_code == 404


def test_unknown_rotation_type_is_404(client, project):
    assert client.get(f"{BASE}/aws-iam-user-secret?projectId={project['id']}").status_code == 404


# --- R1 options ---------------------------------------------------------------------------------


def test_options_list_every_type_sorted_by_name(client):
    response = client.get(f"{BASE}/options")
    assert response.status_code == 200
    options = response.json()["secretRotationOptions"]
    assert [o["name"] for o in options] == sorted(o["name"] for o in options)
    by_type = {o["type"]: o for o in options}
    assert by_type["open-router-api-key"] == {
        "name": "OpenRouter API Key",
        "type": "open-router-api-key",
        "connection": "open-router",
        "template": {"secretsMapping": {"apiKey": "OPEN_ROUTER_API_KEY"}},
    }
    assert by_type["arouter-api-key"]["connection"] == "arouter"
    assert by_type["arouter-api-key"]["name"] == "ARouter API Key"


# --- R2/R3 lists, R4/R5 look-ups ------------------------------------------------------------------


def test_lists_are_empty_for_a_new_project(client, project):
    for url in (BASE, OR, AR):
        response = client.get(url, params={"projectId": project["id"]})
        assert response.status_code == 200, response.text
        assert response.json() == {"secretRotations": []}


def test_list_needs_a_project_id(client):
    assert issues(client.get(BASE))[0][0] == ("projectId",)
    assert issues(client.get(OR, params={"projectId": "  "})) == [(("projectId",), "Project ID required")]


def test_list_of_unknown_project_is_404(client):
    response = client.get(OR, params={"projectId": str(uuid.uuid4())})
    assert response.status_code == 404


def test_generic_list_holds_every_type_and_typed_list_one(client, project, connection):
    openrouter_id = insert_rotation(project, connection, rotation_type="open-router-api-key", name="one")
    arouter_id = insert_rotation(project, connection, rotation_type="arouter-api-key", name="two")
    every = client.get(BASE, params={"projectId": project["id"]}).json()["secretRotations"]
    assert {r["id"] for r in every} == {openrouter_id, arouter_id}
    typed = client.get(OR, params={"projectId": project["id"]}).json()["secretRotations"]
    assert [r["id"] for r in typed] == [openrouter_id]
    assert typed[0]["lastRotationMessage"] == "boom"  # decrypted for the caller


def test_get_unknown_rotation_is_404(client):
    response = client.get(f"{OR}/{UNKNOWN_ID}")
    assert response.status_code == 404
    assert response.json()["message"] == f'Could not find OpenRouter API Key Rotation with ID "{UNKNOWN_ID}"'


def test_rotation_id_must_be_a_uuid(client):
    assert issues(client.get(f"{OR}/not-a-uuid"))[0][0] == ("rotationId",)


@pytest.mark.parametrize(
    "suffix, method",
    [
        ("", "GET"),
        ("", "PATCH"),
        ("", "DELETE"),
        ("/generated-credentials", "GET"),
        ("/rotate-secrets", "POST"),
        ("/check-credentials", "POST"),
        ("/history", "GET"),
    ],
)
def test_rotation_of_another_type_is_400(client, project, connection, suffix, method):
    rotation_id = insert_rotation(project, connection, rotation_type="arouter-api-key")
    response = client.request(method, f"{OR}/{rotation_id}{suffix}", json={} if method == "PATCH" else None)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == (
        f'Secret Rotation with ID "{rotation_id}" is not configured for OpenRouter API Key'
    )


def test_get_by_name_finds_the_rotation_and_normalises_the_path(client, project, connection):
    rotation_id = insert_rotation(project, connection, rotation_type="open-router-api-key", name="by-name")
    response = client.get(
        f"{OR}/rotation-name/by-name", params={"projectId": project["id"], "environment": "dev", "secretPath": " / "}
    )
    assert response.status_code == 200, response.text
    assert response.json()["secretRotation"]["id"] == rotation_id


def test_get_by_name_errors(client, project, connection):
    insert_rotation(project, connection, rotation_type="arouter-api-key", name="other-type")
    params = {"projectId": project["id"], "environment": "dev", "secretPath": "/"}
    missing = client.get(f"{OR}/rotation-name/other-type", params=params)
    assert missing.status_code == 404
    assert missing.json()["message"] == 'Could not find OpenRouter API Key Rotation with name "other-type"'
    env = client.get(f"{OR}/rotation-name/x", params={**params, "environment": "qa"})
    assert env.status_code == 404
    assert env.json()["message"] == f"Environment with slug 'qa' in project with ID '{project['id']}' not found"
    paths = {p for p, _ in issues(client.get(f"{OR}/rotation-name/x", params={"projectId": project["id"]}))}
    assert paths == {("environment",), ("secretPath",)}


# --- R6 validation (422) ---------------------------------------------------------------------------


def test_create_reports_every_invalid_field_with_its_path(client, project, connection):
    body = seed_body(
        project,
        connection,
        name="Bad_Name",
        projectId=" ",
        connectionId="nope",
        secretPath=" ",
        rotationInterval=0,
        rotateAtUtc={"hours": 24, "minutes": -1},
        parameters={"name": " ", "limit": 0, "limitReset": "never", "includeByokInLimit": "yes"},
        secretsMapping={"apiKey": "A:B"},
    )
    found = dict(issues(client.post(OR, json=body)))
    assert found[("name",)] == "name field can only contain lowercase letters, numbers, and hyphens"
    assert found[("projectId",)] == "Project ID required"
    assert ("connectionId",) in found
    assert found[("secretPath",)] == "Secret path required"
    assert found[("rotationInterval",)] == "Number must be greater than or equal to 1"
    assert found[("rotateAtUtc", "hours")] == "Number must be less than or equal to 23"
    assert found[("rotateAtUtc", "minutes")] == "Number must be greater than or equal to 0"
    assert found[("parameters", "name")] == "Key name required"
    assert found[("parameters", "limit")] == "Number must be greater than 0"
    assert ("parameters", "limitReset") in found
    assert ("parameters", "includeByokInLimit") in found
    assert found[("secretsMapping", "apiKey")] == "Secret name cannot contain colon or forward slash."


@pytest.mark.parametrize(
    "field, value, path, message",
    [
        ("rotationInterval", 30.5, ("rotationInterval",), "Expected integer, received float"),
        ("rotationInterval", "abc", ("rotationInterval",), "Expected number, received nan"),
        ("rotationInterval", 10**30, ("rotationInterval",), "Number must be less than or equal to 3650"),
        ("rotationInterval", True, ("rotationInterval",), "Expected number, received boolean"),
        ("name", "x" * 65, ("name",), "name field must be at most 64 lowercase characters"),
        ("name", "", ("name",), "name field must be at least 1 lowercase character"),
        ("description", "d" * 257, ("description",), "Description cannot exceed 256 characters"),
        (
            "environment",
            "Dev",
            ("environment",),
            "environment field can only contain lowercase letters, numbers, and hyphens",
        ),
        ("isAutoRotationEnabled", "true", ("isAutoRotationEnabled",), None),
        ("rotateAtUtc", {"hours": 1.5, "minutes": 0}, ("rotateAtUtc", "hours"), "Expected integer, received float"),
        ("parameters", {"name": "k" * 101}, ("parameters", "name"), "Key name must be 100 characters or fewer"),
        ("parameters", {"limit": 5}, ("parameters", "name"), None),
        ("parameters", {"name": "k", "limit": "5"}, ("parameters", "limit"), "Expected number, received string"),
        (
            "secretsMapping",
            {"apiKey": "A/B"},
            ("secretsMapping", "apiKey"),
            "Secret name cannot contain colon or forward slash.",
        ),
        ("secretsMapping", {}, ("secretsMapping", "apiKey"), None),
    ],
)
def test_create_rejects_one_bad_field(client, project, connection, field, value, path, message):
    found = dict(issues(client.post(OR, json=seed_body(project, connection, **{field: value}))))
    assert list(found) == [path]
    if message is not None:
        assert found[path] == message


def test_create_without_a_body_is_422(client):
    assert client.post(OR, content=b"not json", headers={"content-type": "application/json"}).status_code == 422
    assert client.post(OR, json=[1, 2]).status_code == 422


@pytest.mark.parametrize(
    "bad", [{"name": ""}, {"name": "k", "spendingLimit": -1}, {"name": "k", "allowedProviders": "openai"}]
)
def test_arouter_parameters_are_validated(client, project, connection, bad):
    body = seed_body(project, connection, parameters=bad, secretsMapping={"apiKey": "AROUTER_API_KEY"})
    assert issues(client.post(AR, json=body))[0][0][0] == "parameters"


# --- R6 checks before the provider (404/400) ---------------------------------------------------------


def test_create_in_unknown_environment_is_404(client, project, connection, openrouter):
    response = client.post(OR, json=seed_body(project, connection, environment="qa"))
    assert response.status_code == 404
    assert response.json()["message"] == f"Environment with slug 'qa' in project with ID '{project['id']}' not found"
    assert openrouter.create_count == 0


def test_create_in_unknown_project_is_404(client, project, connection):
    response = client.post(OR, json=seed_body(project, connection, projectId=str(uuid.uuid4())))
    assert response.status_code == 404


def test_create_with_unknown_connection_is_404(client, project, connection):
    response = client.post(OR, json=seed_body(project, connection, connectionId=UNKNOWN_ID))
    assert response.status_code == 404


def test_create_with_a_connection_of_another_app_is_400(client, project, connection, openrouter):
    body = seed_body(project, connection, secretsMapping={"apiKey": "AROUTER_API_KEY"})
    body["parameters"] = {"name": "my-app-key"}
    response = client.post(AR, json=body)
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"OpenRouter Connection with ID {connection['id']} cannot be used to connect to ARouter"
    )
    assert openrouter.create_count == 0


def test_create_with_a_connection_of_another_project_is_400(client, project, connection, openrouter):
    other = client.post("/api/v1/projects", json={"projectName": "other", "slug": "other-app"}).json()["project"]
    response = client.post(OR, json=seed_body(other, connection))
    assert response.status_code == 400
    assert "another project" in response.json()["message"]
    assert openrouter.create_count == 0


def test_create_with_a_duplicate_name_is_400_before_minting(client, project, connection, openrouter):
    insert_rotation(project, connection, rotation_type="open-router-api-key", name="my-open-router-rotation")
    response = client.post(OR, json=seed_body(project, connection, secretPath="/"))
    assert response.status_code == 400
    assert response.json()["message"] == (
        'A Secret Rotation with the name "my-open-router-rotation" already exists at the secret path "/"'
    )
    assert openrouter.create_count == 0


def test_create_over_an_existing_secret_is_400_before_minting(client, project, connection, openrouter):
    from sqlmodel import Session, select

    from app.models import Environment
    from app.store import secrets as secrets_store

    with Session(db.engine()) as session:
        env = session.exec(
            select(Environment).where(Environment.project_id == project["id"], Environment.slug == "dev")
        ).one()
        secrets_store.create_secret(
            session,
            project_id=project["id"],
            environment_id=env.id,
            path="/app",
            key="OPEN_ROUTER_API_KEY",
            value="by hand",
        )
        session.commit()
    response = client.post(OR, json=seed_body(project, connection, secretPath="/app/"))
    assert response.status_code == 400
    assert response.json()["message"] == 'The following secrets already exist at the path "/app": OPEN_ROUTER_API_KEY'
    assert openrouter.create_count == 0


# --- R7/R8 validation -----------------------------------------------------------------------------


def test_update_validation(client, project, connection):
    rotation_id = insert_rotation(project, connection, rotation_type="open-router-api-key")
    for body, path in [
        ({"name": None}, ("name",)),
        ({"rotationInterval": 1.5}, ("rotationInterval",)),
        ({"parameters": {"limit": 3}}, ("parameters", "name")),
        ({"parameters": None}, ("parameters",)),
    ]:
        assert issues(client.patch(f"{OR}/{rotation_id}", json=body))[0][0] == path


@pytest.mark.parametrize("query", ["deleteSecrets=yes", "revokeGeneratedCredentials=1", "deleteSecrets=True"])
def test_delete_flags_must_be_exactly_true_or_false(client, project, connection, query):
    rotation_id = insert_rotation(project, connection, rotation_type="open-router-api-key")
    found = issues(client.delete(f"{OR}/{rotation_id}?{query}"))
    assert found[0][0] == (query.split("=")[0],)


def test_unknown_body_keys_are_dropped(client, project, connection):
    rotation_id = insert_rotation(project, connection, rotation_type="open-router-api-key")
    before = client.get(f"{OR}/{rotation_id}").json()["secretRotation"]
    response = client.patch(
        f"{OR}/{rotation_id}",
        json={
            "surprise": 1,
            "environment": "prod",
            "secretPath": "/elsewhere",
            "projectId": "x",
            "connectionId": str(uuid.uuid4()),
            "description": "changed",
        },
    )
    assert response.status_code == 200, response.text
    after = response.json()["secretRotation"]
    assert after["description"] == "changed"
    for field in ("environment", "folder", "connectionId", "projectId"):
        assert after[field] == before[field]


def test_seed_body_is_valid_as_sent(client, project, connection):
    """The rotation §5.5 example passes validation: string "30" is accepted as an interval too."""
    from app.catalogue.parameters import OpenRouterParameters
    from app.schemas.rotations import RotationCreate

    body = copy.deepcopy(seed_body(project, connection, rotationInterval="30"))
    parsed = RotationCreate[OpenRouterParameters].model_validate(body)
    assert parsed.rotation_interval == 30 and parsed.secret_path == "/"
