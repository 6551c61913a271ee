"""Leases, intent ages and revocation due times follow the database's clock, not the process's (issue 10, A5),
for each provider and database.

Here the process clock is skewed by patching `utcnow` in every app module, which leaves the database's
clock (PostgreSQL's, and SQLite's, which C code reads) alone: one process playing, in turn, a worker whose
clock is right and one whose clock is far off. tests/test_clock_skew.py runs two real processes side by side.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from app import db, timeutil
from app.models import RotationCredential
from app.rotation import engine, lease, reconcile, revocations
from app.rotation.intents import open_key
from app.rotation.upstream import credentials_fingerprint
from tests.factories import create_rotation, credentials, new_intent, row, update_credential, update_row

SKEW = 90.0  # seconds; longer than the lease in these tests, as in the reproduction
real_now = timeutil.utcnow  # the real time, whatever the process clock is set to


@pytest.fixture
def process_clock(monkeypatch) -> Callable[[float], None]:
    """`process_clock(s)`: from now on this process's clock reads `s` seconds off the real time."""
    modules = [
        module
        for name, module in list(sys.modules.items())
        if name.split(".")[0] == "app" and getattr(module, "utcnow", None) is real_now
    ]

    def skew(seconds: float) -> None:
        def skewed() -> datetime:
            return real_now() + timedelta(seconds=seconds)

        for module in modules:
            monkeypatch.setattr(module, "utcnow", skewed)

    return skew


@pytest.fixture
def short_lease(settings):
    settings.lease_seconds = 20  # shorter than SKEW
    return settings


def _seconds_from_now(when: datetime | None) -> float:
    assert when is not None
    return (when - real_now()).total_seconds()


def test_a_fast_process_does_not_take_a_lease_another_holds(provider_case, short_lease, process_clock):
    rotation = create_rotation(provider_case)
    update_row(rotation.id, next_rotation_at=real_now() - timedelta(minutes=1))  # due
    holder = lease.acquire(rotation.id)  # a process whose clock is right
    assert holder is not None

    process_clock(SKEW)  # and one whose clock is 90 s fast, past the lease's expiry
    assert lease.acquire(rotation.id) is None
    _, taken = lease.claim_due(10)
    assert taken == []
    assert lease.is_held(row(rotation.id))
    assert row(rotation.id).lease_owner == holder

    process_clock(0)
    assert lease.renew(rotation.id, holder)  # the holder's heartbeat still holds it


def test_a_lease_taken_by_a_fast_process_expires_by_the_database_clock(provider_case, short_lease, process_clock):
    rotation = create_rotation(provider_case)
    process_clock(SKEW)
    owner = lease.acquire(rotation.id)
    assert owner is not None
    assert abs(_seconds_from_now(row(rotation.id).lease_expires_at) - 20) < 5
    assert lease.renew(rotation.id, owner)
    assert abs(_seconds_from_now(row(rotation.id).lease_expires_at) - 20) < 5

    process_clock(0)  # a process whose clock is right sees it held, and cannot take it
    assert lease.is_held(row(rotation.id))
    assert lease.acquire(rotation.id) is None


def test_a_slow_process_takes_over_a_lapsed_lease(provider_case, short_lease, process_clock):
    rotation = create_rotation(provider_case)
    update_row(
        rotation.id,
        next_rotation_at=real_now() - timedelta(minutes=1),
        lease_owner="lease-dead-worker",
        lease_expires_at=real_now() - timedelta(seconds=1),
    )
    process_clock(-SKEW)  # 90 s slow: by its own clock the dead worker's lease has 89 s left
    assert not lease.is_held(row(rotation.id))
    owner, taken = lease.claim_due(10)
    assert taken == [rotation.id]
    assert row(rotation.id).lease_owner == owner


def _open_intent(rotation_id: str, connection_id: str, created_at: datetime) -> str:
    intent = new_intent(
        rotation_id=rotation_id,
        connection_id=connection_id,
        provider="open-router",
        generation=99,
        base_name="clock-test",
        now=created_at,
        credential_fingerprint=credentials_fingerprint({"apiKey": "clock-test"}),
    )
    with Session(db.engine()) as session:
        session.add(intent)
        session.commit()
        return intent.id


def test_a_fast_process_does_not_reconcile_a_young_intent(provider_case, settings, process_clock):
    settings.intent_grace_seconds = 30  # shorter than SKEW
    rotation = create_rotation(provider_case)
    intent_id = _open_intent(rotation.id, rotation.connection_id, real_now())

    process_clock(SKEW)
    assert reconcile.abandoned_intents() == []  # 0 s old by the database's clock, not 90

    process_clock(0)
    assert reconcile.abandoned_intents(grace_seconds=0) == [intent_id]


def test_a_fast_process_does_not_reconcile_the_intent_of_a_leased_run(provider_case, short_lease, process_clock):
    short_lease.intent_grace_seconds = 1
    rotation = create_rotation(provider_case)
    intent_id = _open_intent(rotation.id, rotation.connection_id, real_now() - timedelta(minutes=5))
    holder = lease.acquire(rotation.id)  # the run that wrote the intent is alive and holds the lease
    assert holder is not None

    process_clock(SKEW)
    assert reconcile.abandoned_intents() == []

    process_clock(0)
    lease.release(rotation.id, holder)
    assert reconcile.abandoned_intents() == [intent_id]


# --- revocation due times ---------------------------------------------------------------------------

OVERLAP = 60.0  # seconds; shorter than SKEW


def _by_generation(rotation_id: str) -> dict[int, RotationCredential]:
    return {c.generation: c for c in credentials(rotation_id)}


def _credential(cred_id: str) -> RotationCredential:
    with Session(db.engine()) as session:
        return session.get_one(RotationCredential, cred_id)


def _superseded(rotation_id: str) -> RotationCredential:
    """Two rotations by a process whose clock is right: g1 stopped being published a moment ago."""
    engine.rotate(rotation_id, manual=True)
    return _by_generation(rotation_id)[1]


def test_a_fast_process_does_not_revoke_a_key_before_its_overlap_has_passed(provider_case, settings, process_clock):
    settings.revocation_min_overlap_seconds = OVERLAP
    case = provider_case
    rotation = create_rotation(case)
    g1 = _superseded(rotation.id)
    g1_key = open_key(g1)
    assert g1_key is not None

    process_clock(SKEW)  # by this process's clock the overlap ended 30 s ago
    engine.rotate(rotation.id, manual=True)  # queues g1: not revoked inline
    g1 = _credential(g1.id)
    assert g1.state == "revoking" and abs(_seconds_from_now(g1.revoke_not_before) - OVERLAP) < 5
    assert revocations.drain() == 0  # nor by the worker's drain
    assert case.key_works(g1_key) and g1.key_id in case.live_ids()

    update_credential(g1.id, revoke_not_before=real_now() - timedelta(seconds=1))  # the overlap has passed
    assert revocations.drain() == 1
    assert _credential(g1.id).state == "revoked" and not case.key_works(g1_key)


def test_a_slow_process_revokes_a_key_once_its_overlap_has_passed(provider_case, settings, process_clock):
    settings.revocation_min_overlap_seconds = OVERLAP
    case = provider_case
    rotation = create_rotation(case)
    _superseded(rotation.id)
    engine.rotate(rotation.id, manual=True)
    g1 = _by_generation(rotation.id)[1]
    assert g1.state == "revoking"
    update_credential(g1.id, revoke_not_before=real_now() - timedelta(seconds=1))  # the overlap has passed

    process_clock(-SKEW)  # by this process's clock it has 89 s left
    assert revocations.due() == [g1.id]
    assert revocations.drain() == 1
    assert _credential(g1.id).state == "revoked" and g1.key_id not in case.live_ids()


def test_a_fast_process_backs_off_a_failed_revocation_by_the_database_clock(provider_case, settings, process_clock):
    settings.revoke_retry_base_seconds = 20  # the first backoff is 10 to 20 s
    case = provider_case
    rotation = create_rotation(case)
    g1 = _superseded(rotation.id)
    engine.rotate(rotation.id, manual=True)  # overlap 0: g1 is revoked inline
    assert _credential(g1.id).state == "revoked"

    g2 = _by_generation(rotation.id)[2]
    process_clock(SKEW)
    case.fault("revoke", kind="status", status=500, times=1)
    engine.rotate(rotation.id, manual=True)  # g2's inline revocation fails
    g2 = _credential(g2.id)
    assert g2.state == "revoking" and g2.revoke_attempts == 1
    assert 5 < _seconds_from_now(g2.revoke_not_before) < 25  # not 90 s more

    process_clock(0)
    assert revocations.drain() == 0  # a process whose clock is right waits out the same backoff
    update_credential(g2.id, revoke_not_before=real_now() - timedelta(seconds=1))
    assert revocations.drain() == 1


# --- negative scans of an intent whose key the provider does not list --------------------------------


def test_a_fast_process_spaces_negative_scans_by_the_database_clock(provider_case, settings, process_clock):
    settings.intent_grace_seconds = 60  # scans at least 20 s apart
    rotation = create_rotation(provider_case)
    intent_id = _open_intent(rotation.id, rotation.connection_id, real_now() - timedelta(minutes=5))

    process_clock(SKEW)
    reconcile.reconcile([intent_id])
    intent = _credential(intent_id)
    assert intent.state == "pending" and intent.negative_scans == 1
    assert abs(_seconds_from_now(intent.revoke_not_before) - 20) < 5  # not 110

    process_clock(0)  # a process whose clock is right does not count a scan before then
    reconcile.reconcile([intent_id])
    assert _credential(intent_id).negative_scans == 1
    process_clock(SKEW)  # nor does a fast one, to which the next scan looks 70 s overdue
    reconcile.reconcile([intent_id])
    assert _credential(intent_id).negative_scans == 1

    update_credential(intent_id, revoke_not_before=real_now() - timedelta(seconds=1))
    reconcile.reconcile([intent_id])
    assert _credential(intent_id).negative_scans == 2


def test_a_fast_process_counts_no_scan_against_an_intent_still_in_its_grace(provider_case, settings, process_clock):
    settings.intent_grace_seconds = 60  # shorter than SKEW
    rotation = create_rotation(provider_case)
    created = real_now() - timedelta(seconds=10)
    intent_id = _open_intent(rotation.id, rotation.connection_id, created)

    process_clock(SKEW)  # by this process's clock the intent is 100 s old
    reconcile.reconcile([intent_id])
    intent = _credential(intent_id)
    assert intent.state == "pending" and intent.negative_scans == 0
    assert intent.revoke_not_before == created + timedelta(seconds=60)  # looked at again once its grace is over
