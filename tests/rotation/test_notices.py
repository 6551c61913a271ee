"""Webhook events of the revocation queue and of expiring keys: a failed revocation is told at once and then at
most hourly while it keeps failing; an expiring key is told once, however many workers look."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.rotation import emergency, engine, expiry_notices, revocations
from tests.factories import create_rotation, create_webhook, credentials, queued_events, update_credential, update_row


@pytest.fixture
def case(provider_case, client, settings):
    settings.webhook_allow_private = True
    settings.revocation_min_overlap_seconds = 0
    create_webhook(client, provider_case.project, "http://127.0.0.1:9/hook")
    return provider_case


def test_a_failing_revocation_is_told_first_then_hourly(case):
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)
    case.fault("revoke", kind="status", status=500, times=None)
    engine.rotate(rotation.id, manual=True)  # g1 is due now and its inline revocation fails
    (first,) = queued_events("keys.revocation-failed")
    assert first["project"]["generation"] == 1 and first["project"]["errorCategory"] == "provider-error"
    assert first["project"]["attempts"] == 1

    g1 = next(c for c in credentials(rotation.id) if c.generation == 1)
    update_credential(g1.id, revoke_not_before=datetime.now(UTC) - timedelta(days=1))
    assert revocations.attempt(g1.id) is False
    assert len(queued_events("keys.revocation-failed")) == 1  # within the hour: not again

    update_credential(
        g1.id,
        revoke_not_before=datetime.now(UTC) - timedelta(days=1),
        revocation_failure_notified_at=datetime.now(UTC) - timedelta(hours=1, seconds=1),
    )
    assert revocations.attempt(g1.id) is False
    assert [e["project"]["attempts"] for e in queued_events("keys.revocation-failed")] == [1, 3]


def test_an_expiring_key_is_told_once(case):
    rotation = create_rotation(case)
    (g1,) = credentials(rotation.id)
    expires = datetime.now(UTC) + timedelta(days=3)
    update_credential(g1.id, expires_at=expires)
    update_row(rotation.id, expiry_due_at=datetime.now(UTC) - timedelta(seconds=1))
    assert expiry_notices.note_expiring() == 1
    assert expiry_notices.note_expiring() == 0
    (event,) = queued_events("keys.expiring")
    assert event["project"]["generation"] == 1 and event["project"]["expiresAt"].startswith(
        expires.strftime("%Y-%m-%dT")
    )


def test_an_emergency_rotation_tells_each_key_it_revokes_early(case):
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)  # g1 inactive, g2 active
    emergency.rotate_and_revoke(rotation.id, actor="platform")  # g3 published; g1 is revoked by the usual rule
    forced = queued_events("keys.revocation-forced")
    assert [e["project"]["generation"] for e in forced] == [2]  # g2 would have stayed valid: revoked early
    assert {e["project"]["reason"] for e in forced} == {"emergency"}
    (succeeded, *_) = [e for e in queued_events("secrets.rotation-succeeded") if e["project"]["generation"] == 3]
    assert succeeded["project"]["trigger"] == "emergency" and succeeded["project"]["triggeredManually"] is True
