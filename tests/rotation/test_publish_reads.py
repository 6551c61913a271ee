"""What a publish reads in the statement that re-checks its lease and writes the rotation's row: the secrets the
rotation maps, and whether any enabled webhook of its scope exists. With none, the publish looks no webhook up;
a webhook of another environment, or a disabled one, does not count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from app import db
from app.rotation import engine
from tests.factories import create_rotation, create_webhook, credentials, published_key, queued_events

HOOK_URL = "http://127.0.0.1:9/hook"


@contextmanager
def recorded_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_rest) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(db.engine(), "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine(), "before_cursor_execute", record)


def webhook_look_ups(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT webhook.")]


@pytest.fixture
def case(provider_case, settings):
    settings.webhook_allow_private = True
    return provider_case


def rotate(rotation_id: str) -> list[str]:
    with recorded_statements() as statements:
        engine.rotate(rotation_id, manual=True)
    return statements


def test_a_publish_with_no_listening_webhook_in_its_scope_looks_none_up(case, client):
    rotation = create_rotation(case)  # in `dev`
    create_webhook(client, case.project, HOOK_URL, environment="prod")
    disabled = create_webhook(client, case.project, HOOK_URL)
    assert client.patch(f"/api/v1/webhooks/{disabled['id']}", json={"isDisabled": True}).status_code == 200
    first_key = published_key(rotation.id)
    statements = rotate(rotation.id)
    assert webhook_look_ups(statements) == []
    assert queued_events() == []
    assert [c.generation for c in credentials(rotation.id) if c.state == "active"] == [2]
    assert published_key(rotation.id) != first_key  # the secret found by the same statement got the new key


def test_a_publish_with_a_webhook_in_its_scope_queues_its_events(case, client):
    rotation = create_rotation(case)
    create_webhook(client, case.project, HOOK_URL)
    statements = rotate(rotation.id)
    assert len(webhook_look_ups(statements)) == 1
    assert [e["project"]["generation"] for e in queued_events("secrets.rotation-succeeded")] == [2]
    assert len(queued_events("secrets.modified")) == 1
