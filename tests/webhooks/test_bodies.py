"""The bytes a receiver gets and their signature: the spec's test vector, the field order, and Slack's message."""

from __future__ import annotations

import json

from app.webhooks import bodies
from app.webhooks.events import Event, FailureCategory, Scope, failure_fields, payload

VECTOR_KEY = "whsec-test-key"
VECTOR_BODY = (
    '{"event":"secrets.modified","project":{"workspaceId":"7d4b5a0e-1c3f-4b52-8d3e-2a1b0c9d8e7f",'
    '"projectId":"7d4b5a0e-1c3f-4b52-8d3e-2a1b0c9d8e7f","projectName":"payments","environment":"prod",'
    '"environmentName":"Production","secretPath":"/openrouter","changedByActorType":"platform"},'
    '"timestamp":1754654400000}'
)
VECTOR_HEADER = "t=1754654400000;bf48e24d6fd04e03021a38731ab3fe5bcd61146814d4d949ce0c852e65c21790"
SCOPE = Scope("7d4b5a0e-1c3f-4b52-8d3e-2a1b0c9d8e7f", "payments", "prod", "Production", "/openrouter")


def test_signature_matches_the_spec_test_vector():
    assert bodies.signature(VECTOR_BODY, VECTOR_KEY, 1754654400000) == VECTOR_HEADER


def test_serialisation_reproduces_the_test_vector_bytes():
    obj = {**payload(Event.SECRETS_MODIFIED, SCOPE, {"changedByActorType": "platform"}), "timestamp": 1754654400000}
    assert bodies.dumps(obj) == VECTOR_BODY


def test_general_body_has_event_id_after_event_and_timestamp_last():
    body = bodies.render(
        "general", payload(Event.SECRETS_MODIFIED, SCOPE, {}), event_id="e-1", timestamp_ms=1754654400000
    )
    keys = list(json.loads(body))
    assert keys == ["event", "eventId", "project", "timestamp"]
    assert json.loads(body)["eventId"] == "e-1"


def test_rotation_failed_has_no_workspace_id_and_only_the_category():
    fields = {"rotationName": "openrouter-prod", **failure_fields(FailureCategory.PROVIDER_ERROR)}
    project = payload(Event.ROTATION_FAILED, SCOPE, {**fields, "triggeredManually": True})["project"]
    assert "workspaceId" not in project
    assert project["errorCategory"] == "provider-error"
    assert project["errorMessage"] == "The provider answered with a server error (5xx)."
    assert list(project)[:5] == ["projectId", "projectName", "environment", "environmentName", "secretPath"]


def test_non_ascii_is_sent_as_is():
    scope = Scope("p", "Zahlungen – Prod", "prod", "Produktion", "/ö")
    body = bodies.render("general", payload(Event.SECRETS_MODIFIED, scope, {}), event_id="e", timestamp_ms=1)
    assert "Zahlungen – Prod" in body and "\\u" not in body


def test_slack_message_names_rotation_project_environment_and_what_to_do():
    fields = {"rotationName": "open<router>", **failure_fields("provider-unreachable"), "triggeredManually": False}
    body = json.loads(
        bodies.render("slack", payload(Event.ROTATION_FAILED, SCOPE, fields), event_id="e-9", timestamp_ms=5)
    )
    assert list(body) == ["text", "blocks", "eventId", "timestamp"]
    assert body["text"] == "A secret rotation has failed. (payments / prod)"
    text = json.dumps(body["blocks"])
    for expected in ("*Rotation*\\nopen&lt;router&gt;", "*Project*\\npayments", "*Environment*\\nprod", "What to do"):
        assert expected in text
    assert "*Triggered Manually*\\nNo" in text
