"""The audit log: what is recorded, that no secret ever lands in it, and the admin-only listing."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, select

from app import db
from app.models import AuditLog
from app.store import audit
from app.timeutil import iso
from tests.factories import bearer, grant, login, make_machine, token_for

URL = "/api/v1/audit-logs"


def _events(client, **params) -> list[str]:
    response = client.get(URL, params=params)
    assert response.status_code == 200, response.text
    return [entry["eventType"] for entry in response.json()["auditLogs"]]


def test_identity_lifecycle_is_recorded_without_secrets(client, anon_client, project):
    machine = make_machine(client)
    grant(client, project["id"], machine.identity_id, "viewer")
    token = token_for(anon_client, machine)
    login(anon_client, machine, secret="0" * 64)
    anon_client.post("/api/v1/auth/token/revoke", json={"accessToken": token})

    events = _events(client, limit=100)
    for expected in (
        "create-identity",
        "add-identity-universal-auth",
        "create-identity-universal-auth-client-secret",
        "create-identity-project-membership",
        "login-identity-universal-auth",
        "login-identity-universal-auth-failed",
        "revoke-identity-access-token",
    ):
        assert expected in events, expected
    with Session(db.engine()) as session:
        dump = json.dumps([row.model_dump(mode="json") for row in session.exec(select(AuditLog)).all()])
    assert machine.client_secret not in dump and token not in dump and "0" * 64 not in dump

    admin_entry = client.get(URL, params={"eventType": "create-identity"}).json()["auditLogs"][0]
    assert admin_entry["actor"] == "admin" and admin_entry["resourceId"] == machine.identity_id
    login_entry = client.get(URL, params={"eventType": "login-identity-universal-auth"}).json()["auditLogs"][0]
    assert login_entry["actor"] == f"identity:{machine.identity_id}"
    assert login_entry["metadata"]["clientId"] == machine.client_id
    failed = client.get(URL, params={"eventType": "login-identity-universal-auth-failed"}).json()["auditLogs"][0]
    assert failed["metadata"]["reason"] == "wrong-secret"


def test_filters_and_pagination(client, project, clock):
    machine = make_machine(client)
    clock.advance(10)
    grant(client, project["id"], machine.identity_id, "viewer")
    by_project = client.get(URL, params={"projectId": project["id"]}).json()
    assert [e["eventType"] for e in by_project["auditLogs"]] == ["create-identity-project-membership"]
    assert _events(client, actor=f"identity:{machine.identity_id}") == []
    assert len(_events(client, actor="admin")) == by_project["totalCount"] + 3
    page = client.get(URL, params={"limit": 1, "offset": 1}).json()
    assert len(page["auditLogs"]) == 1 and page["totalCount"] == 4
    since = iso(clock.current - timedelta(seconds=1))
    assert _events(client, startDate=since) == ["create-identity-project-membership"]
    assert "create-identity" in _events(client, endDate=since)
    assert client.get(URL, params={"limit": 0}).status_code == 422
    assert client.get(URL, params={"startDate": "yesterday"}).status_code == 422


def test_identities_cannot_read_the_audit_log(client, anon_client, project):
    machine = make_machine(client)
    grant(client, project["id"], machine.identity_id, "admin")
    refused = anon_client.get(URL, headers=bearer(token_for(anon_client, machine)))
    assert refused.status_code == 403 and refused.json()["error"] == "PermissionDenied"
    assert refused.json()["message"] == "You are not allowed to read on audit-logs: only the admin token may do this"


def test_record_drops_secret_looking_metadata(client):
    with db.unit_of_work() as session:
        audit.record(
            session,
            actor="admin",
            event="test-event",
            metadata={
                "secretValue": "sk-1",
                "apiKey": "sk-2",
                "accessToken": "t",
                "clientSecret": "c",
                "credentials": {"apiKey": "sk-3"},
                "nested": {"password": "p", "ok": 1},
                "clientSecretId": "id-1",
                "secretName": "OPENROUTER_API_KEY",
                "accessTokenTTL": 60,
            },
        )
    entry = client.get(URL, params={"eventType": "test-event"}).json()["auditLogs"][0]
    assert entry["metadata"] == {
        "nested": {"ok": 1},
        "clientSecretId": "id-1",
        "secretName": "OPENROUTER_API_KEY",
        "accessTokenTTL": 60,
    }
