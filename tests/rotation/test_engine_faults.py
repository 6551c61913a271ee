"""Fault injection at every step of a rotation, for each provider. Each test checks the emulator's live keys
and the rows."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from app.errors import ProviderFailure
from app.models.sealed import ROTATION_MESSAGE
from app.rotation import engine, publish, reconcile, revocations
from app.rotation.messages import FAILURE_PREFIX
from app.rotation.schedule import next_day_at
from app.timeutil import utcnow
from tests.factories import (
    create_rotation,
    credentials,
    published_key,
    row,
    secret,
    states,
    update_credential,
    update_row,
)


def by_generation(rotation_id):
    return {c.generation: c for c in credentials(rotation_id)}


def assert_untouched_after_failure(rotation, case, *, message_part: str):
    """Generation 1 is still the only published key and it works; the row says failed, retried tomorrow."""
    creds = by_generation(rotation.id)
    assert creds[1].state == "active"
    assert case.key_works(published_key(rotation.id))
    assert secret(rotation.id).version == 1
    stored = row(rotation.id)
    assert stored.rotation_status == "failed" and stored.active_index == 0
    assert stored.next_generation == 3
    message = ROTATION_MESSAGE.open(rotation.id, stored.last_rotation_message)
    assert message.startswith(FAILURE_PREFIX) and message_part in message
    assert stored.next_rotation_at == next_day_at(stored.last_rotation_attempted_at, 0, 0)
    assert stored.last_rotated_at == rotation.last_rotated_at


@pytest.mark.parametrize("status", [400, 401])
def test_mint_refused_abandons_the_intent_and_keeps_the_old_key(provider_case, status):
    case = provider_case
    rotation = create_rotation(case)
    case.fault("mint", kind="status", status=status)
    with pytest.raises(ProviderFailure) as info:
        engine.rotate(rotation.id, manual=True)
    assert info.value.status_code == 502
    assert info.value.message.startswith(FAILURE_PREFIX + f"Failed to create {case.display_name} API key: ")
    assert states(rotation.id) == {1: "active", 2: "abandoned"}
    assert by_generation(rotation.id)[2].key_id is None
    assert case.live_ids() == {by_generation(rotation.id)[1].key_id}
    assert_untouched_after_failure(rotation, case, message_part=f"Failed to create {case.display_name} API key")


def test_mint_timeout_is_reconciled_once_the_late_key_lands(provider_case, settings):
    case = provider_case
    rotation = create_rotation(case)
    settings.http_timeout_seconds = 0.4
    settings.intent_grace_seconds = 1.5
    case.fault("mint", kind="latency", delay=0.8)
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    # The create was still running at the emulator when we listed: the intent stays open, not abandoned.
    assert states(rotation.id) == {1: "active", 2: "pending"}
    assert_untouched_after_failure(rotation, case, message_part="timed out")
    time.sleep(1.6)
    assert len(case.live_ids()) == 2  # the late key landed
    assert reconcile.reconcile_abandoned() == 1
    revocations.drain()
    creds = by_generation(rotation.id)
    assert creds[2].state == "revoked" and creds[2].key_id is not None and creds[2].encrypted_key is None
    assert case.live_ids() == {creds[1].key_id}


def test_mint_applied_then_failed_adopts_and_revokes_the_key(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    case.fault("mint", kind="applied_then_failed", status=502)
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    creds = by_generation(rotation.id)
    assert creds[2].state == "revoked" and creds[2].key_id is not None
    assert case.create_count == 2
    assert case.live_ids() == {creds[1].key_id}
    assert_untouched_after_failure(rotation, case, message_part=f"Failed to create {case.display_name} API key")


def test_mint_dropped_after_apply_adopts_and_revokes_the_key(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    case.fault("mint", kind="applied_then_drop")
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    creds = by_generation(rotation.id)
    assert creds[2].state == "revoked"
    assert case.live_ids() == {creds[1].key_id}


def test_verify_failure_does_not_publish_and_revokes_the_new_key(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    case.fault("verify", kind="status", status=401, times=None)
    with pytest.raises(ProviderFailure) as info:
        engine.rotate(rotation.id, manual=True)
    assert f"{case.display_name} API key verification failed" in info.value.message
    creds = by_generation(rotation.id)
    assert creds[2].state == "revoked" and creds[2].published_at is None
    assert "verification failed" in creds[2].last_error
    assert case.live_ids() == {creds[1].key_id}
    case.emulator.clear_faults()
    assert_untouched_after_failure(rotation, case, message_part="verification failed")


def test_publish_failure_after_mint_revokes_the_new_key(provider_case, monkeypatch):
    case = provider_case
    rotation = create_rotation(case)

    def broken_publish(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(publish, "new_key", broken_publish)
    with pytest.raises(RuntimeError):
        engine.rotate(rotation.id, manual=True)
    creds = by_generation(rotation.id)
    assert creds[2].state == "revoked" and creds[2].key_id is not None
    assert case.live_ids() == {creds[1].key_id}
    assert case.key_works(published_key(rotation.id))
    stored = row(rotation.id)
    assert stored.rotation_status == "failed" and stored.active_index == 0 and stored.lease_owner is None


def test_unpublished_minted_key_left_by_a_dead_run_is_revoked_by_the_reconciler(provider_case, settings, monkeypatch):
    case = provider_case
    rotation = create_rotation(case)
    # Simulate a run that died between storing the key and publishing: nothing cleans up inline.
    monkeypatch.setattr(publish, "new_key", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
    monkeypatch.setattr(engine, "discard", lambda *a, **k: None)
    with pytest.raises(RuntimeError):
        engine.rotate(rotation.id, manual=True)
    assert states(rotation.id)[2] == "minted"
    assert len(case.live_ids()) == 2
    settings.intent_grace_seconds = 0.01
    time.sleep(0.05)
    assert reconcile.reconcile_abandoned() == 1
    revocations.drain()
    assert states(rotation.id)[2] == "revoked"
    assert case.live_ids() == {by_generation(rotation.id)[1].key_id}


def test_failed_revocation_stays_queued_and_the_worker_drain_finishes_it(provider_case, settings):
    settings.revoke_retry_base_seconds = 60
    settings.revoke_retry_max_seconds = 60
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)
    case.fault("revoke", kind="status", status=500, times=1)
    done = engine.rotate(rotation.id, manual=True)
    creds = by_generation(rotation.id)
    assert (
        creds[1].state == "revoking"
        and creds[1].revoke_attempts == 1
        and creds[1].last_error == case.error("revoke", 500)
    )
    assert creds[3].state == "active" and done.rotation_status == "success"
    message = ROTATION_MESSAGE.open(rotation.id, row(rotation.id).last_rotation_message)
    assert "revoking the previous key" in message and creds[1].key_name in message
    assert len(case.live_ids()) == 3
    assert revocations.drain() == 0  # not due yet: backoff
    assert creds[1].revoke_not_before >= utcnow() + timedelta(seconds=25)
    update_credential(creds[1].id, revoke_not_before=utcnow())  # the backoff has passed
    assert revocations.drain() == 1
    creds = by_generation(rotation.id)
    assert creds[1].state == "revoked" and creds[1].revoked_at is not None
    assert case.live_ids() == {creds[2].key_id, creds[3].key_id}


def test_revocation_of_a_key_already_gone_counts_as_revoked(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)
    gen1 = by_generation(rotation.id)[1]
    case.fault("revoke", kind="status", status=404)
    engine.rotate(rotation.id, manual=True)
    creds = by_generation(rotation.id)
    assert creds[1].state == "revoked" and row(rotation.id).last_rotation_message is None
    # The fault answered 404 without deleting: the key is still at the emulator, but a 404 means gone.
    assert gen1.key_id in case.live_ids()


def test_scheduled_429_backs_off_honouring_retry_after(provider_case, settings):
    settings.rotation_retry_base_seconds = 0.01
    case = provider_case
    rotation = create_rotation(case)
    due = utcnow() - timedelta(seconds=1)
    update_row(rotation.id, next_rotation_at=due)
    case.fault("mint", kind="status", status=429, retry_after=30)
    before = utcnow()
    result = engine.rotate(rotation.id, manual=False, job_id="job-1")
    assert result.failed_attempts == 1 and result.rotation_status == "success"
    assert result.retry_not_before >= before + timedelta(seconds=29)
    assert result.next_rotation_at == due  # a retry, not a reschedule
    assert states(rotation.id) == {1: "active", 2: "abandoned"}
    # Not due again before the backoff ends: a scheduled run is a no-op.
    again = engine.rotate(rotation.id, manual=False)
    assert again.failed_attempts == 1 and states(rotation.id) == {1: "active", 2: "abandoned"}


def test_fifth_scheduled_failure_is_final(provider_case, settings):
    case = provider_case
    rotation = create_rotation(case)
    case.fault("mint", kind="status", status=500, times=None)
    for attempt in range(1, 6):
        update_row(rotation.id, next_rotation_at=utcnow() - timedelta(seconds=1), retry_not_before=None)
        result = engine.rotate(rotation.id, manual=False, job_id=f"job-{attempt}")
    assert result.rotation_status == "failed" and result.failed_attempts == 0 and result.retry_not_before is None
    assert not result.is_last_rotation_manual and result.last_rotation_job_id == "job-5"
    assert result.next_rotation_at == next_day_at(result.last_rotation_attempted_at, 0, 0)
    assert row(rotation.id).next_generation == 7
