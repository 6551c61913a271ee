"""C1–C9 for OpenRouter (rotation §2.2, rotation §3.3, rotation §4) against the emulator."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlmodel import Session

from app.db import engine
from app.models import AppConnection, RotationCredential
from tests.factories import CannedServer, insert_rotation

BASE = "/api/v1/app-connections/open-router"
CONNECTION_KEYS = {
    "id",
    "name",
    "description",
    "version",
    "orgId",
    "projectId",
    "createdAt",
    "updatedAt",
    "isPlatformManagedCredentials",
    "gatewayId",
    "credentialsHash",
    "app",
    "method",
    "credentials",
}
INVALID_KEY = "Unable to validate connection: invalid API key or insufficient permissions"
IN_USE = "Cannot delete App Connection with existing connections. Remove all existing connections and try again."


def _create(client, openrouter, *, name="conn-a", project_id=None, key=None, **extra):
    body = {
        "name": name,
        "method": "api-key",
        "credentials": {"apiKey": key or openrouter.create_management_key()},
        **extra,
    }
    if project_id:
        body["projectId"] = project_id
    return client.post(BASE, json=body)


def _row(connection_id: str) -> AppConnection | None:
    with Session(engine()) as session:
        return session.get(AppConnection, connection_id)


# --- C1 / C2 ---------------------------------------------------------------------------------


def test_c1_options_list_every_registered_app(client):
    response = client.get("/api/v1/app-connections/options")
    assert response.status_code == 200
    options = response.json()["appConnectionOptions"]
    assert {"name": "OpenRouter", "app": "open-router", "methods": ["api-key"]} in options


def test_c2_lists_connections_of_every_app(client, openrouter, connection, project):
    org_scoped = _create(client, openrouter, name="org-wide").json()["appConnection"]
    everything = client.get("/api/v1/app-connections").json()["appConnections"]
    assert [c["id"] for c in everything] == [connection["id"], org_scoped["id"]]
    in_project = client.get("/api/v1/app-connections", params={"projectId": project["id"]}).json()
    assert [c["id"] for c in in_project["appConnections"]] == [connection["id"]]
    assert client.get("/api/v1/app-connections", params={"projectId": "nope"}).status_code == 404


# --- C7 create -------------------------------------------------------------------------------


def test_c7_creates_a_sanitised_connection(client, openrouter, project):
    key = openrouter.create_management_key()
    response = _create(client, openrouter, project_id=project["id"], key=key, description="  main  ")
    assert response.status_code == 200
    conn = response.json()["appConnection"]
    assert set(conn) == CONNECTION_KEYS
    assert conn["credentials"] == {} and key not in response.text
    assert (conn["app"], conn["method"], conn["version"], conn["projectId"]) == (
        "open-router",
        "api-key",
        1,
        project["id"],
    )
    assert conn["description"] == "main"
    assert conn["isPlatformManagedCredentials"] is False and conn["gatewayId"] is None
    row = _row(conn["id"])
    assert conn["credentialsHash"] == hashlib.sha256(row.encrypted_credentials.encode()).hexdigest()


def test_c7_organisation_scoped_connection(client, openrouter):
    conn = _create(client, openrouter).json()["appConnection"]
    assert conn["projectId"] is None


def test_c7_duplicate_name_is_400(client, openrouter, connection):
    response = _create(client, openrouter, name=connection["name"])
    assert response.status_code == 400
    assert response.json()["message"] == f'An App Connection with the name "{connection["name"]}" already exists'


def test_c7_duplicate_name_racing_past_the_check_is_400_and_writes_nothing(client, openrouter, connection, monkeypatch):
    """A concurrent create can take the name between the check and the write: the unique index refuses
    it, the answer is still the 400, and neither a row nor an audit record of the attempt is left."""
    from sqlmodel import func, select

    from app.models.audit import AuditLog
    from app.services import connections as service

    monkeypatch.setattr(service, "_name_taken", lambda *_args, **_kwargs: False)
    response = _create(client, openrouter, name=connection["name"])
    assert response.status_code == 400
    assert response.json()["message"] == f'An App Connection with the name "{connection["name"]}" already exists'
    with Session(engine()) as session:
        named = select(func.count()).select_from(AppConnection).where(AppConnection.name == connection["name"])
        creates = select(func.count()).select_from(AuditLog).where(AuditLog.event == "create-app-connection")
        assert (session.exec(named).one(), session.exec(creates).one()) == (1, 1)


def test_c7_unknown_key_is_401(client, openrouter):
    response = _create(client, openrouter, key="sk-or-v1-" + "0" * 64)
    assert (response.status_code, response.json()["error"], response.json()["message"]) == (
        401,
        "UnauthorizedError",
        INVALID_KEY,
    )


def test_c7_non_management_key_is_401(client, openrouter):
    import httpx

    mgmt = openrouter.create_management_key()
    minted = httpx.post(
        f"{openrouter.base_url}/keys", json={"name": "inference"}, headers={"Authorization": f"Bearer {mgmt}"}
    ).json()["key"]
    assert _create(client, openrouter, key=minted).status_code == 401


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 429, "retry_after": 1},
        {"kind": "drop"},
        {"kind": "latency", "delay": 2.5},  # the app's client times out after 2 s
    ],
)
def test_c7_provider_failure_is_401_never_500(client, openrouter, fault):
    openrouter.add_fault("GET", r"/keys$", **fault)
    response = _create(client, openrouter)
    assert (response.status_code, response.json()["message"]) == (401, INVALID_KEY)


def test_c7_non_json_answer_is_401(client, app):
    from app.config import get_settings

    with CannedServer(200, b"<html>not json</html>", "text/html") as server:
        settings = get_settings()
        original = settings.openrouter_base_url
        settings.openrouter_base_url = server.base_url
        try:
            response = client.post(
                BASE, json={"name": "html", "method": "api-key", "credentials": {"apiKey": "sk-or-v1-whatever"}}
            )
        finally:
            settings.openrouter_base_url = original
    assert (response.status_code, response.json()["message"]) == (401, INVALID_KEY)


@pytest.mark.parametrize(
    "body, path, message",
    [
        ({"method": "api-key", "credentials": {"apiKey": "k"}}, ["name"], "Required"),
        (
            {"name": "Bad Name", "method": "api-key", "credentials": {"apiKey": "k"}},
            ["name"],
            "name field can only contain lowercase letters, numbers, and hyphens",
        ),
        ({"name": "ok", "method": "oauth", "credentials": {"apiKey": "k"}}, ["method"], None),
        (
            {"name": "ok", "method": "api-key", "credentials": {"apiKey": "   "}},
            ["credentials", "apiKey"],
            "API Key required",
        ),
        ({"name": "ok", "method": "api-key", "credentials": {}}, ["credentials", "apiKey"], "Required"),
        (
            {"name": "ok", "method": "api-key", "credentials": {"apiKey": "k"}, "isPlatformManagedCredentials": True},
            ["isPlatformManagedCredentials"],
            "Not supported for OpenRouter Connections",
        ),
        (
            {"name": "ok", "method": "api-key", "credentials": {"apiKey": "k"}, "description": "x" * 257},
            ["description"],
            None,
        ),
    ],
)
def test_c7_validation(client, body, path, message):
    response = client.post(BASE, json=body)
    assert response.status_code == 422
    [issue] = response.json()["message"]
    assert issue["path"] == path
    if message:
        assert issue["message"] == message


def test_c7_validation_never_echoes_the_key(client):
    response = client.post(
        BASE, json={"name": "Bad Name", "method": "api-key", "credentials": {"apiKey": "sk-or-v1-secretvalue"}}
    )
    assert response.status_code == 422 and "secretvalue" not in response.text


def test_c7_unknown_project_is_404(client, openrouter):
    assert _create(client, openrouter, project_id="missing").status_code == 404


def test_c7_needs_a_token(anon_client):
    assert anon_client.post(BASE, json={}).status_code == 401


# --- C3 / C4 / C5 / C6 -----------------------------------------------------------------------


def test_c3_lists_sorted_by_name_case_insensitively(client, openrouter, project):
    for name in ("b-conn", "a-conn", "c-conn"):
        _create(client, openrouter, name=name, project_id=project["id"])
    listed = client.get(BASE, params={"projectId": project["id"]}).json()["appConnections"]
    assert [c["name"] for c in listed] == ["a-conn", "b-conn", "c-conn"]
    assert all(c["credentials"] == {} for c in listed)


def test_c4_available_includes_project_and_organisation_connections(client, openrouter, project, connection):
    org_scoped = _create(client, openrouter, name="org-wide").json()["appConnection"]
    other = client.post("/api/v1/projects", json={"projectName": "other"}).json()["project"]
    _create(client, openrouter, name="elsewhere", project_id=other["id"])
    response = client.get(f"{BASE}/available", params={"projectId": project["id"]})
    assert response.status_code == 200
    items = response.json()["appConnections"]
    assert {i["id"] for i in items} == {connection["id"], org_scoped["id"]}
    assert set(items[0]) == {"app", "name", "id", "projectId", "orgId"}


def test_c5_gets_by_id(client, connection):
    response = client.get(f"{BASE}/{connection['id']}")
    assert response.status_code == 200 and response.json()["appConnection"] == connection


def test_c5_unknown_and_malformed_ids(client):
    missing = str(uuid.uuid4())
    response = client.get(f"{BASE}/{missing}")
    assert (response.status_code, response.json()["message"]) == (
        404,
        f"Could not find App Connection with ID {missing}",
    )
    malformed = client.get(f"{BASE}/not-a-uuid")
    assert malformed.status_code == 422 and malformed.json()["message"][0]["path"] == ["connectionId"]


def test_c5_connection_of_another_app_is_400(client, connection):
    with Session(engine()) as session:
        row = session.get(AppConnection, connection["id"])
        row.app = "arouter-test"
        session.add(row)
        session.commit()
    response = client.get(f"{BASE}/{connection['id']}")
    assert response.status_code == 400
    assert response.json()["message"] == f'App Connection with ID "{connection["id"]}" is not for App "open-router"'


def test_c6_gets_by_name_in_project_or_organisation_scope(client, openrouter, project, connection):
    by_name = client.get(f"{BASE}/connection-name/{connection['name']}", params={"projectId": project["id"]})
    assert by_name.status_code == 200 and by_name.json()["appConnection"]["id"] == connection["id"]
    org_lookup = client.get(f"{BASE}/connection-name/{connection['name']}")
    assert org_lookup.status_code == 404
    assert (
        org_lookup.json()["message"]
        == f"Could not find App Connection with name {connection['name']} in organization scope."
    )
    org_scoped = _create(client, openrouter, name="org-wide").json()["appConnection"]
    assert client.get(f"{BASE}/connection-name/org-wide").json()["appConnection"]["id"] == org_scoped["id"]


# --- C8 update -------------------------------------------------------------------------------


def test_c8_updates_name_and_description(client, connection):
    response = client.patch(f"{BASE}/{connection['id']}", json={"name": "renamed", "description": "d"})
    assert response.status_code == 200
    updated = response.json()["appConnection"]
    assert (updated["name"], updated["description"], updated["version"]) == ("renamed", "d", 2)
    assert updated["credentialsHash"] == connection["credentialsHash"]


def test_c8_new_credentials_are_validated_and_re_encrypted(client, openrouter, connection):
    new_key = openrouter.create_management_key()
    response = client.patch(f"{BASE}/{connection['id']}", json={"credentials": {"apiKey": new_key}})
    assert response.status_code == 200
    updated = response.json()["appConnection"]
    assert updated["credentialsHash"] != connection["credentialsHash"] and updated["version"] == 2
    assert new_key not in response.text
    from app.store.credentials import load_credentials

    with Session(engine()) as session:
        assert load_credentials(session.get(AppConnection, connection["id"])) == {"apiKey": new_key}


def test_c8_bad_key_is_401_and_changes_nothing(client, connection):
    response = client.patch(
        f"{BASE}/{connection['id']}", json={"name": "changed", "credentials": {"apiKey": "sk-or-v1-bad"}}
    )
    assert (response.status_code, response.json()["message"]) == (401, INVALID_KEY)
    assert client.get(f"{BASE}/{connection['id']}").json()["appConnection"] == connection


@pytest.mark.parametrize("credentials", [{"token": "x"}, {"apiKey": ""}, "sk-or-v1-x", [1]])
def test_c8_badly_shaped_credentials_are_400(client, connection, credentials):
    response = client.patch(f"{BASE}/{connection['id']}", json={"credentials": credentials})
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid credential format for OpenRouter Connection with method API Key"


def test_c8_duplicate_name_empty_body_and_unknown_id(client, openrouter, connection):
    _create(client, openrouter, name="taken")
    assert client.patch(f"{BASE}/{connection['id']}", json={"name": "taken"}).status_code == 400
    empty = client.patch(f"{BASE}/{connection['id']}")
    assert empty.status_code == 200 and empty.json()["appConnection"]["name"] == connection["name"]
    assert client.patch(f"{BASE}/{uuid.uuid4()}", json={}).status_code == 404
    assert client.patch(f"{BASE}/{connection['id']}", json={"isPlatformManagedCredentials": True}).status_code == 422


# --- C9 delete -------------------------------------------------------------------------------


def test_c9_deletes_and_returns_the_connection(client, connection):
    response = client.delete(f"{BASE}/{connection['id']}")
    assert response.status_code == 200 and response.json()["appConnection"]["id"] == connection["id"]
    assert client.get(f"{BASE}/{connection['id']}").status_code == 404
    assert client.delete(f"{BASE}/{connection['id']}").status_code == 404


def test_c9_refused_while_a_rotation_uses_it(client, project, connection):
    insert_rotation(project, connection, name="rot", failure=None)
    response = client.delete(f"{BASE}/{connection['id']}")
    assert (response.status_code, response.json()["message"]) == (400, IN_USE)


@pytest.mark.parametrize(
    "state, blocks", [("pending", True), ("minted", True), ("revoking", True), ("revoked", False), ("abandoned", False)]
)
def test_c9_open_key_work_blocks_delete(client, connection, state, blocks):
    with Session(engine()) as session:
        session.add(
            RotationCredential(
                rotation_id=str(uuid.uuid4()),
                connection_id=connection["id"],
                provider="open-router",
                generation=1,
                key_name="k-g1",
                state=state,
            )
        )
        session.commit()
    response = client.delete(f"{BASE}/{connection['id']}")
    if blocks:
        assert (response.status_code, response.json()["message"]) == (400, IN_USE)
    else:
        assert response.status_code == 200


# --- service functions used by the engine ----------------------------------------------------


def test_get_connection_service_404(app):
    from app.errors import NotFound
    from app.services.connections import get_connection

    with Session(engine()) as session, pytest.raises(NotFound):
        get_connection(session, str(uuid.uuid4()))


# --- a second app, served from its catalogue entry alone ----------------------------------------


def test_arouter_connections_come_from_the_catalogue(client, arouter):
    options = client.get("/api/v1/app-connections/options").json()["appConnectionOptions"]
    assert {"name": "ARouter", "app": "arouter", "methods": ["api-key"]} in options
    body = {"name": "ar-conn", "method": "api-key", "credentials": {"apiKey": arouter.create_management_key()}}
    created = client.post("/api/v1/app-connections/arouter", json=body)
    assert created.status_code == 200, created.text
    conn = created.json()["appConnection"]
    assert (conn["app"], conn["credentials"]) == ("arouter", {})
    assert client.get(f"/api/v1/app-connections/arouter/{conn['id']}").status_code == 200
    wrong_app = client.get(f"{BASE}/{conn['id']}")
    assert wrong_app.status_code == 400 and wrong_app.json()["message"].endswith('is not for App "open-router"')
    bad = client.post(
        "/api/v1/app-connections/arouter", json={**body, "name": "ar-bad", "credentials": {"apiKey": "not-a-key"}}
    )
    assert (bad.status_code, bad.json()["message"]) == (401, INVALID_KEY)
    platform = client.post("/api/v1/app-connections/arouter", json={**body, "isPlatformManagedCredentials": True})
    assert platform.json()["message"][0]["message"] == "Not supported for ARouter Connections"
    shape = client.patch(f"/api/v1/app-connections/arouter/{conn['id']}", json={"credentials": {}})
    assert shape.json()["message"] == "Invalid credential format for ARouter Connection with method API Key"
    assert [c["app"] for c in client.get("/api/v1/app-connections").json()["appConnections"]] == ["arouter"]
