"""The worker on its own, for each provider: polls, rotates due rotations, drains the queue, honours
disabling (rotation §14f)."""

from __future__ import annotations

import time

from app.rotation.worker import Worker
from tests.factories import create_rotation, credentials, published_key, row, update_row


def wait_for(condition, timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def fast(settings):
    settings.rotation_interval_unit = "seconds"
    settings.worker_poll_seconds = 0.1
    settings.lease_seconds = 3


def test_worker_rotates_on_its_own_with_a_seconds_interval(provider_case, settings):
    fast(settings)
    case = provider_case
    rotation = create_rotation(case, interval=1)
    worker = Worker(settings)
    worker.start()
    try:
        assert wait_for(lambda: row(rotation.id).next_generation >= 4)
    finally:
        worker.stop()
    creds = {c.generation: c for c in credentials(rotation.id)}
    stored = row(rotation.id)
    assert creds[1].state == "revoked"
    live = {c.key_id for c in creds.values() if c.state in ("active", "inactive")}
    assert len(live) == 2 and case.live_ids() == live
    assert case.key_works(published_key(rotation.id))
    assert not stored.is_last_rotation_manual and stored.last_rotation_job_id.startswith("keyturn-rotate-")
    assert stored.lease_owner is None
    assert (stored.next_rotation_at - stored.last_rotated_at).total_seconds() == 1


def test_worker_does_not_run_a_disabled_rotation(provider_case, settings):
    fast(settings)
    case = provider_case
    rotation = create_rotation(case, interval=1)
    update_row(rotation.id, is_auto_rotation_enabled=False, next_rotation_at=None)
    worker = Worker(settings)
    worker.start()
    try:
        time.sleep(1.5)
    finally:
        worker.stop()
    assert case.create_count == 1 and row(rotation.id).next_generation == 2


def test_worker_drains_revocations_left_in_the_queue(provider_case, settings):
    fast(settings)
    case = provider_case
    rotation = create_rotation(case, interval=3600)
    from app.rotation import engine

    engine.rotate(rotation.id, manual=True)
    case.fault("revoke", kind="status", status=503)
    settings.revoke_retry_base_seconds = 0.2
    settings.revoke_retry_max_seconds = 0.2
    engine.rotate(rotation.id, manual=True)
    assert {c.generation: c.state for c in credentials(rotation.id)}[1] == "revoking"
    worker = Worker(settings)
    worker.start()
    try:
        assert wait_for(lambda: {c.generation: c.state for c in credentials(rotation.id)}[1] == "revoked")
    finally:
        worker.stop()
    assert len(case.live_ids()) == 2
