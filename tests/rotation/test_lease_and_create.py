"""The one lease (rotation §14g), creation failures (rotation §5.5 with rotation §14e), delete and check-credentials
edge cases, for each provider."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app import db
from app.errors import BadRequest
from app.models import RotationCredential, Secret, SecretRotation
from app.rotation import changes, engine, heartbeat, lease
from app.timeutil import utcnow
from tests.factories import (
    create_draft,
    create_rotation,
    credentials,
    new_rotation,
    row,
    states,
    update_row,
)


def all_rows(model):
    with Session(db.engine()) as session:
        return list(session.exec(select(model)).all())


def test_manual_rotate_while_the_lease_is_held_answers_400(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    with heartbeat.held(rotation.id):
        with pytest.raises(BadRequest) as info:
            engine.rotate(rotation.id, manual=True)
        assert info.value.message == "A rotation is already in progress. Please try again shortly."
        with pytest.raises(BadRequest) as info:
            engine.check_credentials(rotation.id)
        assert info.value.message == "A rotation is in progress. Please try again shortly."
        with pytest.raises(BadRequest), heartbeat.held(rotation.id):
            pass
    assert states(rotation.id) == {1: "active"} and case.create_count == 1
    assert row(rotation.id).lease_owner is None  # released
    engine.rotate(rotation.id, manual=True)
    assert states(rotation.id) == {1: "inactive", 2: "active"}


def test_an_expired_lease_can_be_taken_over(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    update_row(rotation.id, lease_owner="lease-dead-worker", lease_expires_at=utcnow() - timedelta(seconds=1))
    engine.rotate(rotation.id, manual=True)
    assert states(rotation.id) == {1: "inactive", 2: "active"}


def test_lease_acquire_is_exclusive_and_released_only_by_its_owner(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    first = lease.acquire(rotation.id)
    assert first and lease.acquire(rotation.id) is None
    lease.release(rotation.id, "someone-else")
    assert lease.acquire(rotation.id) is None
    lease.release(rotation.id, first)
    assert lease.acquire(rotation.id) is not None


def test_delete_waits_for_the_lease_then_answers_400(provider_case, monkeypatch):
    case = provider_case
    rotation = create_rotation(case)
    monkeypatch.setattr(changes, "LEASE_WAIT_SECONDS", 0.3)
    owner = lease.acquire(rotation.id)
    started = time.monotonic()
    with pytest.raises(BadRequest):
        changes.delete_rotation(rotation.id, delete_secrets=True, revoke=True)
    assert time.monotonic() - started >= 0.3
    lease.release(rotation.id, owner)
    assert row(rotation.id) is not None


def test_disabling_auto_rotation_stops_a_claimed_run(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    update_row(rotation.id, next_rotation_at=utcnow() - timedelta(seconds=5))
    update_row(rotation.id, is_auto_rotation_enabled=False, next_rotation_at=None)
    result = engine.rotate(rotation.id, manual=False, job_id="job")
    assert states(rotation.id) == {1: "active"} and case.create_count == 1
    assert result.last_rotation_job_id is None


@pytest.mark.parametrize("status", [400, 401])
def test_create_refused_by_the_provider_persists_nothing(provider_case, status):
    case = provider_case
    case.fault("mint", kind="status", status=status)
    draft = new_rotation(case)
    with pytest.raises(BadRequest) as info:
        create_draft(case, draft)
    assert info.value.message.startswith(f"Failed to create {case.display_name} API key: ")
    assert all_rows(SecretRotation) == [] and all_rows(Secret) == []
    assert [c.state for c in credentials(draft.id)] == ["abandoned"]
    assert case.live_ids() == set()


def test_create_with_a_failing_verification_revokes_the_key(provider_case):
    case = provider_case
    case.fault("verify", kind="status", status=401, times=None)
    draft = new_rotation(case)
    with pytest.raises(BadRequest) as info:
        create_draft(case, draft)
    assert info.value.message.startswith(f"{case.display_name} API key verification failed: ")
    assert all_rows(SecretRotation) == [] and all_rows(Secret) == []
    assert [c.state for c in credentials(draft.id)] == ["revoked"]
    assert case.live_ids() == set() and case.create_count == 1


def test_create_whose_recheck_fails_revokes_the_minted_key(provider_case):
    case = provider_case

    def conflict(session):
        raise BadRequest('A Secret Rotation with the name "my-rotation" already exists at the secret path "/"')

    draft = new_rotation(case)
    with pytest.raises(BadRequest, match="already exists"):
        create_draft(case, draft, recheck=conflict)
    assert all_rows(SecretRotation) == [] and all_rows(Secret) == []
    assert [c.state for c in credentials(draft.id)] == ["revoked"]
    assert case.live_ids() == set()


def test_delete_with_a_failing_revocation_answers_400_and_deletes_nothing(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    case.fault("revoke", kind="status", status=500)
    with pytest.raises(BadRequest) as info:
        changes.delete_rotation(rotation.id, delete_secrets=True, revoke=True)
    assert info.value.message.startswith(f"Failed to delete {case.display_name} API key: ")
    assert row(rotation.id) is not None and len(all_rows(Secret)) == 1
    assert states(rotation.id) == {1: "active"} and len(case.live_ids()) == 1


def test_delete_keeps_open_queue_entries_after_the_rotation_is_gone(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)
    case.fault("revoke", kind="status", status=500)
    engine.rotate(rotation.id, manual=True)  # gen 1's revocation fails and stays queued
    changes.delete_rotation(rotation.id, delete_secrets=True, revoke=False)
    assert row(rotation.id) is None
    assert [(c.generation, c.state) for c in credentials(rotation.id)] == [(1, "revoking")]
    left = all_rows(RotationCredential)
    assert all(c.encrypted_key is None for c in left if c.state != "revoking")


def test_check_credentials_without_an_active_key(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    with Session(db.engine()) as session:
        for cred in session.exec(select(RotationCredential)).all():
            cred.state = "revoked"
            session.add(cred)
        session.commit()
    with pytest.raises(BadRequest) as info:
        engine.check_credentials(rotation.id)
    assert info.value.message == "No active credentials are available to check for this rotation."
