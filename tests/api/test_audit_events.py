"""Audit rows for connection and rotation changes, rotation attempts and generated-credential reads: the right
actor (admin, identity:<id>, platform), the right resource, and no secret value anywhere in the log."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, select

from app import db
from app.models import AuditLog, SecretRotation
from app.rotation import engine
from app.timeutil import utcnow
from tests.factories import OR, as_identity, seed_body

URL = "/api/v1/audit-logs"
CONNECTIONS = "/api/v1/app-connections/open-router"


def entries(client, event: str, **params) -> list[dict]:
    """Newest first."""
    response = client.get(URL, params={"eventType": event, "limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["auditLogs"]


def only(client, event: str, **params) -> dict:
    found = entries(client, event, **params)
    assert len(found) == 1, (event, found)
    return found[0]


def emulator_keys(openrouter) -> list[str]:
    """Every key the emulator ever issued, management keys and deleted ones included."""
    with openrouter._lock:
        return list(openrouter._by_plaintext)


def assert_no_secret_in_log(client, secrets: list[str]) -> None:
    with Session(db.engine()) as session:
        rows = json.dumps([row.model_dump(mode="json") for row in session.exec(select(AuditLog)).all()])
    listed = client.get(URL, params={"limit": 1000}).text
    assert secrets and all(len(s) > 20 for s in secrets)
    for secret in secrets:
        assert secret not in rows and secret not in listed


def make_due(rotation_id: str) -> None:
    with Session(db.engine()) as session:
        row = session.get(SecretRotation, rotation_id)
        row.next_rotation_at = utcnow() - timedelta(seconds=1)
        row.retry_not_before = None
        session.add(row)
        session.commit()


def test_connection_changes_are_audited_in_their_transaction(client, project, openrouter):
    management_key = openrouter.create_management_key()
    created = client.post(
        CONNECTIONS,
        json={
            "name": "or-conn",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": management_key},
        },
    )
    assert created.status_code == 200, created.text
    connection = created.json()["appConnection"]
    patched = client.patch(
        f"{CONNECTIONS}/{connection['id']}",
        json={"name": "or-conn-2", "credentials": {"apiKey": openrouter.create_management_key("mgmt-2")}},
    )
    assert patched.status_code == 200, patched.text
    assert client.delete(f"{CONNECTIONS}/{connection['id']}").status_code == 200

    for event in ("create-app-connection", "update-app-connection", "delete-app-connection"):
        entry = only(client, event)
        assert entry["actor"] == "admin" and entry["resourceType"] == "app-connection"
        assert entry["resourceId"] == connection["id"] and entry["projectId"] == project["id"]
        assert entry["metadata"]["app"] == "open-router"
    assert only(client, "create-app-connection")["metadata"]["name"] == "or-conn"
    update = only(client, "update-app-connection")["metadata"]
    assert update["name"] == "or-conn-2" and update["changedFields"] == ["credentials", "name"]
    assert only(client, "delete-app-connection")["metadata"]["name"] == "or-conn-2"
    assert_no_secret_in_log(client, emulator_keys(openrouter))


def test_admin_rotation_changes_and_every_attempt_outcome_are_audited(client, project, connection, openrouter):
    rotation = client.post(OR, json=seed_body(project, connection)).json()["secretRotation"]
    rid = rotation["id"]
    assert client.get(f"{OR}/{rid}/generated-credentials").status_code == 200
    assert client.post(f"{OR}/{rid}/rotate-secrets").status_code == 200
    openrouter.add_fault("POST", r"/keys$", kind="status", status=500, times=1)
    assert client.post(f"{OR}/{rid}/rotate-secrets").status_code == 502
    make_due(rid)
    assert engine.rotate(rid, manual=False, job_id="job-ok").rotation_status == "success"
    make_due(rid)
    openrouter.add_fault("POST", r"/keys$", kind="status", status=500, times=1)
    assert engine.rotate(rid, manual=False, job_id="job-retry").failed_attempts == 1
    assert client.post(f"{OR}/{rid}/check-credentials").status_code == 204
    assert client.patch(f"{OR}/{rid}", json={"description": "new", "isAutoRotationEnabled": False}).status_code == 200
    deleted = client.delete(f"{OR}/{rid}", params={"deleteSecrets": "true", "revokeGeneratedCredentials": "true"})
    assert deleted.status_code == 200, deleted.text

    for event in (
        "create-secret-rotation",
        "get-secret-rotation-generated-credentials",
        "check-secret-rotation-credentials",
        "update-secret-rotation",
        "delete-secret-rotation",
    ):
        entry = only(client, event)
        assert entry["actor"] == "admin" and entry["resourceId"] == rid and entry["projectId"] == project["id"]
        assert entry["resourceType"] == "secret-rotation" and entry["metadata"]["name"] == rotation["name"]
    assert only(client, "create-secret-rotation")["metadata"]["secretName"] == "OPEN_ROUTER_API_KEY"
    assert only(client, "update-secret-rotation")["metadata"]["changedFields"] == [
        "description",
        "isAutoRotationEnabled",
    ]
    assert only(client, "check-secret-rotation-credentials")["metadata"]["status"] == "success"
    removal = only(client, "delete-secret-rotation")["metadata"]
    assert removal["removeMapped"] is True and removal["revokeKeys"] is True

    attempts = list(reversed(entries(client, "secret-rotation-rotate-secrets")))  # oldest first
    summary = [
        (
            e["actor"],
            e["metadata"]["status"],
            e["metadata"]["manual"],
            e["metadata"]["generation"],
            e["metadata"].get("final"),
        )
        for e in attempts
    ]
    assert summary == [
        ("admin", "success", True, 2, None),
        ("admin", "failed", True, 3, True),
        ("platform", "success", False, 4, None),
        ("platform", "failed", False, 5, False),
    ]
    assert attempts[2]["metadata"]["jobId"] == "job-ok" and attempts[3]["metadata"]["attempt"] == 1
    assert all(e["resourceId"] == rid for e in attempts)

    assert_no_secret_in_log(client, emulator_keys(openrouter))


def test_identity_actions_are_audited_under_its_id(client, project, connection, openrouter):
    headers = as_identity(client, project, "admin")
    actor = only(client, "create-identity")["resourceId"]
    actor = f"identity:{actor}"
    own = client.post(
        CONNECTIONS,
        headers=headers,
        json={
            "name": "identity-conn",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": openrouter.create_management_key("mgmt-identity")},
        },
    )
    assert own.status_code == 200, own.text
    created = client.post(OR, json=seed_body(project, connection), headers=headers)
    assert created.status_code == 200, created.text
    rid = created.json()["secretRotation"]["id"]
    assert client.get(f"{OR}/{rid}/generated-credentials", headers=headers).status_code == 200
    assert client.post(f"{OR}/{rid}/rotate-secrets", headers=headers).status_code == 200
    openrouter.add_fault("POST", r"/keys$", kind="status", status=500, times=1)
    assert client.post(f"{OR}/{rid}/rotate-secrets", headers=headers).status_code == 502
    assert client.patch(f"{OR}/{rid}", json={"name": "renamed"}, headers=headers).status_code == 200
    assert client.delete(f"{OR}/{rid}", headers=headers).status_code == 200

    for event in (
        "create-app-connection",
        "create-secret-rotation",
        "get-secret-rotation-generated-credentials",
        "update-secret-rotation",
        "delete-secret-rotation",
    ):
        entry = only(client, event, actor=actor)
        assert entry["ipAddress"]  # the caller's address travels with the principal
    outcomes = [
        (e["metadata"]["status"], e["metadata"]["manual"])
        for e in reversed(entries(client, "secret-rotation-rotate-secrets", actor=actor))
    ]
    assert outcomes == [("success", True), ("failed", True)]
    assert only(client, "delete-secret-rotation")["metadata"]["name"] == "renamed"
    assert_no_secret_in_log(client, emulator_keys(openrouter))


def test_refused_or_failed_changes_leave_no_audit_row(client, project, connection, openrouter):
    viewer = as_identity(client, project, "viewer", name="viewer")
    rotation = client.post(OR, json=seed_body(project, connection)).json()["secretRotation"]
    assert client.get(f"{OR}/{rotation['id']}/generated-credentials", headers=viewer).status_code == 403
    duplicate = client.post(OR, json=seed_body(project, connection))
    assert duplicate.status_code == 400
    openrouter.add_fault("POST", r"/keys$", kind="status", status=500, times=1)
    failed_create = client.post(
        OR, json=seed_body(project, connection, name="other", secretsMapping={"apiKey": "OTHER"})
    )
    assert failed_create.status_code == 400
    same_name = client.post(
        CONNECTIONS,
        json={"name": connection["name"], "method": "api-key", "credentials": {"apiKey": "sk-or-v1-unused"}},
    )
    assert same_name.status_code == 400
    assert entries(client, "get-secret-rotation-generated-credentials") == []
    assert len(entries(client, "create-secret-rotation")) == 1
    assert len(entries(client, "create-app-connection")) == 1  # the fixture's


def test_failed_credential_check_is_audited(client, project, connection, openrouter):
    rotation = client.post(OR, json=seed_body(project, connection)).json()["secretRotation"]
    openrouter.add_fault("GET", r"/key$", kind="status", status=401, times=1)
    response = client.post(f"{OR}/{rotation['id']}/check-credentials")
    assert response.status_code == 400, response.text
    assert only(client, "check-secret-rotation-credentials")["metadata"]["status"] == "failed"


def test_unknown_project_is_404_before_permission_for_identities(client, project, connection):
    """identity §9.3 step 4: the project is looked up before the permission check."""
    unknown = "3b1d2f0e-7a3c-4a8e-9b52-0d6c2f1e9a11"
    for headers in (
        as_identity(client, project, "admin", name="project-admin"),
        as_identity(client, project, "viewer", name="project-viewer"),
    ):
        response = client.post(OR, json=seed_body(project, connection, projectId=unknown), headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "NotFound"
        listed = client.get(OR, params={"projectId": unknown}, headers=headers)
        assert listed.status_code == 404, listed.text
