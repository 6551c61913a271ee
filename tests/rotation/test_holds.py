"""Holds on queued revocations (issue 12, app/rotation/holds.py): `when-unused` queues the previous key at publish,
a key that a consumer or the provider still shows in use is held, released once unused, revoked anyway after
`maxHoldSeconds` with the names on record, and never held when the rotation turned holds off or is gone.

Time passes by moving the rows' due times into the past (the queue compares them on the database's clock), and the
provider's last use by the emulator's clock, never by sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from app import db
from app.models import AuditLog, SecretRotation
from app.reads import audit as read_audit
from app.rotation import engine, holds, revocations
from tests.conftest import FakeClock
from tests.factories import (
    BASE,
    as_identity,
    create_draft,
    create_webhook,
    credentials,
    new_rotation,
    published_key,
    queued_events,
    row,
    update_credential,
)

QUIET = 60
MAX_HOLD = 3600
LONG_AGO = timedelta(days=1)
OPENROUTER_ONLY = pytest.mark.parametrize("provider_case", ["open-router"], indirect=True)
AROUTER_ONLY = pytest.mark.parametrize("provider_case", ["arouter"], indirect=True)


def holding_rotation(case, *, mode: str = "when-unused", overlap: int = 0, hold: bool = True) -> SecretRotation:
    draft = new_rotation(case)
    draft.revocation_mode = mode
    draft.revocation_min_overlap_seconds = overlap
    draft.revocation_hold_while_in_use = hold
    draft.revocation_quiet_seconds = QUIET
    draft.revocation_max_hold_seconds = MAX_HOLD
    return create_draft(case, draft)


def by_generation(rotation_id: str) -> dict:
    return {c.generation: c for c in credentials(rotation_id)}


def read_as(client, case, headers: dict) -> int:
    """One read of the rotation's secret as an identity, flushed into the consumer records; the version read."""
    project = case.project["id"]
    url = f"/api/v3/secrets/raw/{case.secret_name}?workspaceId={project}&environment=dev&secretPath=/"
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    read_audit.flush_pending()
    return response.json()["secret"]["version"]


@pytest.fixture
def case(provider_case):
    return provider_case


def use_key(case, api_key: str, *, at: datetime | None = None) -> None:
    """One paid chat completion with `api_key` at the emulator, at the emulator time `at` (default: now)."""
    emulator = case.emulator
    url = (
        emulator.base_url + "/chat/completions"
        if case.app == "open-router"
        else emulator.root_url + "/v1/chat/completions"
    )
    real_clock = emulator.clock
    if at is not None:
        emulator.clock = FakeClock(at)
    try:
        response = httpx.post(
            url,
            json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    finally:
        emulator.clock = real_clock
    assert response.status_code == 200, response.text


def make_due(cred_id: str, **values) -> None:
    update_credential(cred_id, revoke_not_before=datetime.now(UTC) - LONG_AGO, **values)


def forced_audits(rotation_id: str) -> list[AuditLog]:
    with Session(db.engine()) as session:
        statement = select(AuditLog).where(AuditLog.resource_id == rotation_id, AuditLog.event == holds.FORCED_EVENT)
        return list(session.exec(statement).all())


# --- publish per mode ------------------------------------------------------------------------------


def test_when_unused_queues_the_previous_key_as_soon_as_the_next_is_published(case):
    rotation = holding_rotation(case, overlap=120)
    engine.rotate(rotation.id, manual=True)

    creds = by_generation(rotation.id)
    assert (creds[1].state, creds[2].state) == ("revoking", "active")
    assert creds[1].key_id in case.live_ids()  # not before the minimum overlap
    assert creds[1].superseded_at is not None
    assert creds[1].revoke_not_before == creds[1].revoke_due_at == creds[1].superseded_at + timedelta(seconds=120)


def test_scheduled_queues_the_key_two_back_and_starts_its_hold_clock_there(case):
    rotation = holding_rotation(case, mode="scheduled", overlap=120)
    engine.rotate(rotation.id, manual=True)
    engine.rotate(rotation.id, manual=True)

    creds = by_generation(rotation.id)
    assert [creds[g].state for g in (1, 2, 3)] == ["revoking", "inactive", "active"]
    assert creds[1].revoke_not_before == creds[1].revoke_due_at == creds[2].published_at + timedelta(seconds=120)
    assert creds[1].superseded_at is not None and creds[2].superseded_at is not None
    assert creds[2].revoke_due_at is None and creds[3].superseded_at is None


# --- (a) consumers -------------------------------------------------------------------------------


def test_a_lagging_consumer_holds_the_key_and_is_named(case, client):
    rotation = holding_rotation(case)
    billing = as_identity(client, case.project, "viewer", name="billing-api")
    assert read_as(client, case, billing) == 1
    engine.rotate(rotation.id, manual=True)  # g1 is due at once (no overlap), and held

    g1 = by_generation(rotation.id)[1]
    assert g1.state == "revoking" and g1.key_id in case.live_ids()
    assert "billing-api last read generation 1" in (g1.hold_reason or "")
    assert g1.held_since is not None
    assert g1.revoke_not_before > g1.revoke_due_at  # re-checked later, not held under a claim
    stored = row(rotation.id)
    assert stored.rotation_status == "success" and stored.last_rotation_message is None  # a hold is no failure
    assert revocations.drain() == 0  # not due again yet


def test_a_consumer_that_migrated_releases_the_key(case, client):
    rotation = holding_rotation(case)
    billing = as_identity(client, case.project, "viewer", name="billing-api")
    read_as(client, case, billing)
    engine.rotate(rotation.id, manual=True)
    g1 = by_generation(rotation.id)[1]
    assert g1.state == "revoking"

    assert read_as(client, case, billing) == 2  # billing-api now has generation 2
    make_due(g1.id, usage_baseline_at=datetime.now(UTC) - LONG_AGO)  # and the provider has been quiet since
    assert revocations.attempt(g1.id) is True

    g1 = by_generation(rotation.id)[1]
    assert g1.state == "revoked" and g1.key_id not in case.live_ids()
    assert g1.held_since is not None and "billing-api" in (g1.hold_reason or "")  # the hold stays on record
    assert forced_audits(rotation.id) == []


# --- (b) the provider --------------------------------------------------------------------------


@OPENROUTER_ONLY
def test_rising_openrouter_usage_holds_the_key_until_a_quiet_window(case):
    rotation = holding_rotation(case)
    old_key = published_key(rotation.id)
    engine.rotate(rotation.id, manual=True)
    g1 = by_generation(rotation.id)[1]
    assert g1.state == "revoking" and "waiting for a quiet window" in (g1.hold_reason or "")
    assert g1.usage_baseline == 0

    # Traffic nobody read from keyturn; used a while ago by the provider's clock, so only `usage` tells.
    use_key(case, old_key, at=datetime.now(UTC) - timedelta(seconds=10 * QUIET))
    make_due(g1.id)
    assert revocations.attempt(g1.id) is None
    g1 = by_generation(rotation.id)[1]
    assert "provider usage rose by 0.0001 in" in (g1.hold_reason or "") and g1.usage_baseline == pytest.approx(0.0001)
    assert g1.provider_last_used_at is not None

    make_due(g1.id)  # usage unchanged, but the baseline is younger than quietSeconds
    assert revocations.attempt(g1.id) is None
    assert "waiting for a quiet window" in (by_generation(rotation.id)[1].hold_reason or "")

    make_due(g1.id, usage_baseline_at=datetime.now(UTC) - timedelta(seconds=QUIET + 1))
    assert revocations.attempt(g1.id) is True
    assert g1.key_id not in case.live_ids()


@AROUTER_ONLY
def test_an_arouter_last_use_inside_the_quiet_window_holds_the_key(case):
    rotation = holding_rotation(case)
    old_key = published_key(rotation.id)
    use_key(case, old_key)
    engine.rotate(rotation.id, manual=True)
    g1 = by_generation(rotation.id)[1]
    assert g1.state == "revoking" and "provider last used the key" in (g1.hold_reason or "")

    # Its last use now lies outside the window (the emulator's clock placed it there).
    use_key(case, old_key, at=datetime.now(UTC) - timedelta(seconds=QUIET + 5))
    make_due(g1.id)
    assert revocations.attempt(g1.id) is True
    assert g1.key_id not in case.live_ids()


@OPENROUTER_ONLY
def test_a_provider_that_cannot_say_keeps_the_key_held(case):
    rotation = holding_rotation(case)
    case.emulator.add_fault("GET", r"/keys/[^/]+$", kind="status", status=500, times=None)
    engine.rotate(rotation.id, manual=True)
    g1 = by_generation(rotation.id)[1]
    assert g1.state == "revoking" and "provider usage unknown" in (g1.hold_reason or "")
    assert g1.key_id in case.live_ids()


# --- the maximum hold, and no hold ---------------------------------------------------------------


def test_a_key_held_past_max_hold_is_revoked_with_the_names_on_record_and_audited(case, client):
    rotation = holding_rotation(case)
    billing = as_identity(client, case.project, "viewer", name="billing-api")
    read_as(client, case, billing)
    engine.rotate(rotation.id, manual=True)
    g1 = by_generation(rotation.id)[1]
    held_since = g1.held_since
    assert g1.state == "revoking" and held_since is not None

    make_due(g1.id, revoke_due_at=datetime.now(UTC) - timedelta(seconds=MAX_HOLD + 1))
    assert revocations.attempt(g1.id) is True

    g1 = by_generation(rotation.id)[1]
    assert g1.state == "revoked" and g1.key_id not in case.live_ids()
    assert g1.hold_reason.startswith(f"revoked after maxHoldSeconds ({MAX_HOLD} s) while in use: ")
    assert "billing-api last read generation 1" in g1.hold_reason
    assert g1.held_since == held_since
    (audit,) = forced_audits(rotation.id)
    assert audit.metadata_entries["lagging"] == ["billing-api"] and audit.metadata_entries["generation"] == 1

    history = client.get(f"{BASE}/{case.rotation_type}/{rotation.id}/history").json()["history"]
    entry = next(e for e in history if e["generation"] == 1)
    assert entry["holdReason"] == g1.hold_reason and entry["heldSince"] and entry["supersededAt"]


def test_a_hold_and_its_forced_end_are_told_to_webhooks_once_each(case, client, settings):
    settings.webhook_allow_private = True
    create_webhook(client, case.project, "http://127.0.0.1:9/hook")
    rotation = holding_rotation(case)
    billing = as_identity(client, case.project, "viewer", name="billing-api")
    read_as(client, case, billing)
    engine.rotate(rotation.id, manual=True)
    g1 = by_generation(rotation.id)[1]
    make_due(g1.id)
    assert revocations.attempt(g1.id) is None  # re-checked and still held: said once only

    (held,) = queued_events("keys.revocation-held")
    assert held["project"]["laggingIdentities"] == ["billing-api"] and held["project"]["generation"] == 1
    assert held["project"]["rotationId"] == rotation.id and held["project"]["heldUntil"]
    (lagging,) = queued_events("consumers.lagging")
    assert lagging["project"]["laggingIdentities"] == ["billing-api"]

    make_due(g1.id, revoke_due_at=datetime.now(UTC) - timedelta(seconds=MAX_HOLD + 1))
    assert revocations.attempt(g1.id) is True
    (forced,) = queued_events("keys.revocation-forced")
    assert forced["project"]["reason"] == "max-hold" and forced["project"]["laggingIdentities"] == ["billing-api"]
    assert case.key_prefix not in str(queued_events())


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def listener(_conn, _cursor, statement, _params, _context, _executemany):
        if threading.current_thread() is threading.main_thread():
            seen.append(statement)

    event.listen(db.engine(), "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine(), "before_cursor_execute", listener)


def test_with_holds_off_a_lagging_consumer_does_not_delay_the_revocation(case, client):
    rotation = holding_rotation(case, overlap=60, hold=False)
    billing = as_identity(client, case.project, "viewer", name="billing-api")
    read_as(client, case, billing)
    engine.rotate(rotation.id, manual=True)
    g1 = by_generation(rotation.id)[1]
    make_due(g1.id)
    case.emulator.request_log.clear()

    with statements() as seen:
        assert revocations.attempt(g1.id) is True
    # The check is not even made: no consumer query, no usage request, just the DELETE.
    assert not any("secret_consumer" in sql for sql in seen)
    assert [method for method, _path, _status in case.emulator.request_log] == ["DELETE"]
    assert by_generation(rotation.id)[1].hold_reason is None


def test_a_deleted_rotations_queued_key_is_revoked_without_a_hold(case, client):
    rotation = holding_rotation(case, overlap=60)
    billing = as_identity(client, case.project, "viewer", name="billing-api")
    read_as(client, case, billing)
    engine.rotate(rotation.id, manual=True)
    g1 = by_generation(rotation.id)[1]
    response = client.delete(f"{BASE}/{case.rotation_type}/{rotation.id}")
    assert response.status_code == 200, response.text

    make_due(g1.id)
    assert revocations.attempt(g1.id) is True
    assert g1.key_id not in case.live_ids()
