"""W1–W5 and the delivery log through the API: admin only, the secret key sealed and never returned, refused
targets as 422, the test event signed, and events queued in the transaction of the change they report."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import select

from app import db
from app.models import Webhook, WebhookDelivery
from app.webhooks import outbox
from app.webhooks.events import Event
from tests.factories import (
    WebhookReceiver,
    as_identity,
    create_webhook,
    post_rotation,
)

SECRET_KEY = "whsec-test-key"


@pytest.fixture
def allow_private(settings):
    settings.webhook_allow_private = True  # loopback receivers
    return settings


def _deliveries() -> list[WebhookDelivery]:
    with db.unit_of_work() as session:
        return list(session.exec(select(WebhookDelivery)).all())


def test_create_list_update_delete_round_trip(client, project, allow_private):
    created = create_webhook(
        client, project, "http://127.0.0.1:9/hook", eventsFilter=[{"eventName": "secrets.rotation-failed"}]
    )
    assert created["environment"]["slug"] == "dev" and created["secretPath"] == "/**"
    assert created["lastStatus"] is None and created["isDisabled"] is False
    assert created["eventsFilter"] == [{"eventName": "secrets.rotation-failed"}]
    assert "url" not in created and all("secret" not in key.lower() or key == "secretPath" for key in created)

    listed = client.get("/api/v1/webhooks", params={"projectId": project["id"], "environment": "dev"}).json()
    assert listed["message"] == "Successfully fetched webhook"
    assert [w["url"] for w in listed["webhooks"]] == ["http://127.0.0.1:9/hook"]
    assert SECRET_KEY not in str(listed)

    patched = client.patch(f"/api/v1/webhooks/{created['id']}", json={"isDisabled": True, "eventsFilter": []})
    assert patched.status_code == 200 and patched.json()["webhook"]["isDisabled"] is True
    assert patched.json()["webhook"]["eventsFilter"] == []
    none_given = client.patch(f"/api/v1/webhooks/{created['id']}", json={})
    assert (
        none_given.status_code == 422 and none_given.json()["message"][0]["message"] == "At least one field is required"
    )

    deleted = client.delete(f"/api/v1/webhooks/{created['id']}")
    assert deleted.status_code == 200 and deleted.json()["webhook"]["id"] == created["id"]
    missing = client.delete(f"/api/v1/webhooks/{created['id']}")
    assert missing.status_code == 404 and missing.json()["message"] == f"Webhook with ID '{created['id']}' not found"


def test_url_and_secret_key_are_sealed_at_rest(client, project, allow_private, db_url):
    create_webhook(client, project, "http://127.0.0.1:9/sealed-path")
    with db.engine().connect() as conn:
        stored = " ".join(str(value) for row in conn.execute(text("SELECT * FROM webhook")) for value in row)
    assert SECRET_KEY not in stored and "sealed-path" not in stored
    assert "v1:k1:" in stored


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://10.255.0.1:8080/x",
        "http://127.0.0.1:9/",
    ],
)
def test_private_link_local_and_metadata_targets_are_refused(client, project, url):
    response = client.post(
        "/api/v1/webhooks", json={"projectId": project["id"], "environment": "dev", "webhookUrl": url}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationFailure" and set(body) == {"reqId", "statusCode", "message", "error"}
    assert body["message"][0]["path"] == ["webhookUrl"]
    assert "not allowed" in body["message"][0]["message"]


def test_the_metadata_address_stays_refused_with_the_allow_setting(client, project, allow_private):
    response = client.post(
        "/api/v1/webhooks",
        json={"projectId": project["id"], "environment": "dev", "webhookUrl": "http://169.254.169.254/"},
    )
    assert response.status_code == 422


def test_slack_hooks_must_be_slack_urls_and_unknown_environments_are_404(client, project):
    slack = client.post(
        "/api/v1/webhooks",
        json={"projectId": project["id"], "environment": "dev", "webhookUrl": "https://example.com/x", "type": "slack"},
    )
    assert slack.status_code == 422 and slack.json()["message"][0]["message"] == "Incoming Webhook URL is invalid."
    env = client.post(
        "/api/v1/webhooks",
        json={"projectId": project["id"], "environment": "nope", "webhookUrl": "https://example.com"},
    )
    assert env.status_code == 404
    assert env.json()["message"] == f"Environment with slug 'nope' in project with ID '{project['id']}' not found"


def test_identities_cannot_manage_webhooks(client, project):
    headers = as_identity(client, project, "admin")
    response = client.get("/api/v1/webhooks", params={"projectId": project["id"]}, headers=headers)
    assert response.status_code == 403


def test_test_event_is_signed_and_logged(client, project, allow_private):
    with WebhookReceiver() as receiver:
        hook = create_webhook(client, project, receiver.url)
        response = client.post(f"/api/v1/webhooks/{hook['id']}/test")
    assert response.status_code == 200 and response.json()["webhook"]["lastStatus"] == "success"
    (got,) = receiver.received
    assert got.signature_valid(SECRET_KEY)
    assert got.json["event"] == "test" and got.json["project"]["secretPath"] == "/**"
    assert got.headers["x-keyturn-event-id"] == got.json["eventId"]
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
    assert [(d["event"], d["status"], d["attempts"], d["lastResponseCode"]) for d in log] == [
        ("test", "delivered", 1, 200)
    ]


def test_a_failed_test_answers_200_with_the_failure_recorded(client, project, allow_private):
    with WebhookReceiver(status=404) as receiver:
        hook = create_webhook(client, project, receiver.url)
        webhook = client.post(f"/api/v1/webhooks/{hook['id']}/test").json()["webhook"]
    assert webhook["lastStatus"] == "failed"
    assert webhook["lastRunErrorMessage"] == "Request failed with status code 404"


def test_rotation_events_are_queued_with_the_rotation(client, project, connection, allow_private):
    hook = create_webhook(client, project, "http://127.0.0.1:9/hook")
    create_webhook(client, project, "http://127.0.0.1:9/other-path", secretPath="/elsewhere")
    rotation = post_rotation(client, project, connection)
    assert (
        client.post(f"/api/v2/secret-rotations/open-router-api-key/{rotation['id']}/rotate-secrets").status_code == 200
    )
    events = sorted(d.event for d in _deliveries())
    # Create: secrets.modified; rotate: secrets.rotation-succeeded and secrets.modified. Only the matching hook.
    assert events == ["secrets.modified", "secrets.modified", "secrets.rotation-succeeded"]
    assert {d.webhook_id for d in _deliveries()} == {hook["id"]}
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
    assert {d["status"] for d in log} == {"pending"} and all(d["nextAttemptAt"] for d in log)


def test_a_manual_rotation_failure_queues_rotation_failed_with_its_category(
    client, project, connection, openrouter, allow_private
):
    create_webhook(client, project, "http://127.0.0.1:9/hook", eventsFilter=[{"eventName": "secrets.rotation-failed"}])
    rotation = post_rotation(client, project, connection)
    openrouter.add_fault("POST", r"/keys$", kind="status", status=500)
    failed = client.post(f"/api/v2/secret-rotations/open-router-api-key/{rotation['id']}/rotate-secrets")
    assert failed.status_code == 502
    (delivery,) = _deliveries()
    import json

    body = json.loads(delivery.body)
    assert body["event"] == "secrets.rotation-failed"
    assert body["project"]["triggeredManually"] is True and body["project"]["errorCategory"] == "provider-error"
    assert body["project"]["rotationName"] == rotation["name"]


def test_a_rolled_back_change_queues_nothing(client, project, allow_private):
    create_webhook(client, project, "http://127.0.0.1:9/hook")
    with db.unit_of_work() as session:
        hook = session.exec(select(Webhook)).one()
        environment_id = hook.environment_id
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        fields = {"changedByActorType": "platform"}
        queued = outbox.emit(
            session,
            Event.SECRETS_MODIFIED,
            project_id=project["id"],
            environment_id=environment_id,
            secret_path="/",
            fields=fields,
        )
        assert queued == 1
        raise RuntimeError("the change fails after the event was written")
    assert _deliveries() == []


def test_webhook_changes_are_audited_without_the_url_or_the_secret_key(client, project, allow_private):
    created = create_webhook(client, project, "http://127.0.0.1:9/hook-path-is-a-credential")
    client.patch(f"/api/v1/webhooks/{created['id']}", json={"isDisabled": True})
    client.delete(f"/api/v1/webhooks/{created['id']}")
    entries = client.get("/api/v1/audit-logs", params={"projectId": project["id"]}).json()["auditLogs"]
    mine = [e for e in entries if e["resourceId"] == created["id"]]
    assert sorted(e["eventType"] for e in mine) == ["create-webhook", "delete-webhook", "update-webhook"]
    assert all(e["actor"] == "admin" and e["resourceType"] == "webhook" for e in mine)
    assert next(e for e in mine if e["eventType"] == "update-webhook")["metadata"]["changedFields"] == ["isDisabled"]
    assert "hook-path-is-a-credential" not in str(mine) and SECRET_KEY not in str(mine)
