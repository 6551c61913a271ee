"""The worker's sender against a real loopback receiver: signed delivery, retries with backoff, giving up after the
window, cancelled when disabled, the address re-checked at send time, and disjoint claims."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import select

from app import db
from app.models import WebhookDelivery
from app.models.tables import WEBHOOK_DELIVERIES
from app.webhooks import outbox, sender
from app.webhooks.events import Event
from tests.factories import WebhookReceiver, create_webhook, wait_until


@pytest.fixture
def fast(settings):
    settings.webhook_allow_private = True
    settings.webhook_retry_base_seconds = 0.2
    settings.webhook_retry_max_seconds = 0.4
    return settings


def _emit(project: dict, environment_id: str, count: int = 1) -> None:
    for _ in range(count):
        with db.unit_of_work() as session:
            outbox.emit(
                session,
                Event.SECRETS_MODIFIED,
                project_id=project["id"],
                environment_id=environment_id,
                secret_path="/",
                fields={"changedByActorType": "platform"},
            )


def _rows() -> list[WebhookDelivery]:
    with db.unit_of_work() as session:
        return list(session.exec(select(WebhookDelivery)).all())


def _send_all(settings) -> None:
    worker = sender.Sender(settings)
    try:
        while worker.run_once():
            pass
    finally:
        worker.close()


def test_a_due_delivery_is_sent_signed_and_logged(client, project, fast):
    with WebhookReceiver() as receiver:
        hook = create_webhook(client, project, receiver.url)
        _emit(project, hook["envId"])
        _send_all(fast)
    (got,) = receiver.received
    assert got.signature_valid("whsec-test-key") and got.json["event"] == "secrets.modified"
    (row,) = _rows()
    assert (row.status, row.attempts, row.last_response_code, row.event_id) == (
        "delivered",
        1,
        200,
        got.json["eventId"],
    )
    assert (
        client.get("/api/v1/webhooks", params={"projectId": project["id"]}).json()["webhooks"][0]["lastStatus"]
        == "success"
    )


def test_failures_are_retried_with_the_same_bytes_until_delivered(client, project, fast):
    receiver = WebhookReceiver(status=503)
    with receiver:
        hook = create_webhook(client, project, receiver.url)
        _emit(project, hook["envId"])
        _send_all(fast)
        (row,) = _rows()
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "Request failed with status code 503")
        receiver.status = 200
        wait_until(lambda: (_send_all(fast), _rows()[0].status == "delivered")[1], 10, "the retry")
    assert len({r.body for r in receiver.received}) == 1 and len(receiver.received) >= 2
    assert _rows()[0].attempts == len(receiver.received)


def test_a_failure_past_the_retry_window_is_final(client, project, fast):
    with WebhookReceiver(status=500) as receiver:
        hook = create_webhook(client, project, receiver.url)
        _emit(project, hook["envId"])
        with db.unit_of_work() as session:
            session.execute(update(WEBHOOK_DELIVERIES).values(give_up_at=db.now(-1)))
        _send_all(fast)
    (row,) = _rows()
    assert (row.status, row.attempts) == ("failed", 1)


def test_deliveries_of_a_disabled_webhook_are_cancelled_unsent(client, project, fast):
    with WebhookReceiver() as receiver:
        hook = create_webhook(client, project, receiver.url)
        _emit(project, hook["envId"])
        client.patch(f"/api/v1/webhooks/{hook['id']}", json={"isDisabled": True})
        _send_all(fast)
    assert receiver.received == [] and _rows()[0].status == "cancelled"


def test_the_address_is_checked_again_at_send_time(client, project, fast):
    """Allowed when created; by send time loopback is refused (as a rebound name would be): nothing is sent."""
    with WebhookReceiver() as receiver:
        hook = create_webhook(client, project, receiver.url.replace("127.0.0.1", "localhost"))
        _emit(project, hook["envId"])
        fast.webhook_allow_private = False
        _send_all(fast)
    assert receiver.received == []
    (row,) = _rows()
    assert row.status == "pending" and "loopback" in row.last_error and row.last_response_code is None


def test_two_claims_never_share_a_delivery(client, project, fast):
    hook = create_webhook(client, project, "http://127.0.0.1:9/hook")
    _emit(project, hook["envId"], count=5)
    _, first = sender.claim(fast, limit=3)
    _, second = sender.claim(fast, limit=10)
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    _, third = sender.claim(fast, limit=10)
    assert third == []  # a claimed row is not due again until its claim lapses
