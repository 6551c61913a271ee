"""Publishing is a compare-and-set on every credential it moves, and nothing after a good publish fails the
rotation (issue 10, A6 and A9)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, update

from app import db
from app.models import RotationCredential
from app.rotation import engine, lease, reconcile, revocations
from app.rotation.intents import open_key
from app.timeutil import utcnow
from tests.factories import create_rotation, credentials, published_key, row, secret, update_row


def by_generation(rotation_id: str) -> dict:
    return {c.generation: c for c in credentials(rotation_id)}


def published_key_of(cred: RotationCredential) -> str:
    key = open_key(cred)
    assert key is not None
    return key


def force_state(cred_id: str, state: str) -> None:
    """Another writer moves a credential, committed in a transaction of its own."""
    with db.unit_of_work() as session:
        session.execute(update(RotationCredential).where(RotationCredential.id == cred_id).values(state=state))


@contextmanager
def paused_after_publish_reads(meanwhile: Callable[[], None]) -> Iterator[None]:
    """Run `meanwhile()` once, right after publish has read the rotation's live credentials and before it
    writes: what other processes can do while the publisher is paused. PostgreSQL only: SQLite serialises
    writers, and publish holds the write lock from its lease check on, so nobody else can write there."""
    fired: list[bool] = []

    def after_execute(conn, cursor, statement, parameters, context, executemany):
        values = set(parameters.values() if isinstance(parameters, dict) else parameters or ())
        reads_live = statement.lstrip().startswith("SELECT") and "FROM rotation_credential" in statement
        if not fired and reads_live and {"active", "inactive"} <= values:
            fired.append(True)
            meanwhile()

    engine_ = db.engine()
    event.listen(engine_, "after_cursor_execute", after_execute)
    try:
        yield
    finally:
        event.remove(engine_, "after_cursor_execute", after_execute)
    assert fired, "publish never read its live credentials"


POSTGRES_ONLY = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


@POSTGRES_ONLY
def test_publish_aborts_when_the_reconciler_revoked_the_new_key_during_a_pause(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    old_key = published_key(rotation.id)

    def reconciler_and_drain():
        # The lease-free reconciler takes the paused run for dead: it queues g2 and the drain revokes it.
        [g2] = [c for c in credentials(rotation.id) if c.generation == 2]
        reconcile.reconcile([g2.id])
        assert revocations.drain() == 1

    with paused_after_publish_reads(reconciler_and_drain), pytest.raises(RuntimeError):
        engine.rotate(rotation.id, manual=True)

    creds = by_generation(rotation.id)
    assert creds[2].state == "revoked" and creds[2].published_at is None and creds[2].slot is None
    assert creds[1].state == "active" and creds[1].slot == 0
    assert published_key(rotation.id) == old_key and case.key_works(old_key)  # nothing was published
    assert secret(rotation.id).version == 1
    stored = row(rotation.id)
    assert stored.active_index == 0 and stored.rotation_status == "failed"


@POSTGRES_ONLY
@pytest.mark.parametrize(
    ("generation", "moved_to"),
    [(2, "revoking"), (1, "revoked")],  # the active key (active→inactive), the key two back (inactive→revoking)
)
def test_publish_aborts_when_a_key_it_demotes_moved_during_a_pause(provider_case, generation, moved_to):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)  # g1 inactive, g2 active
    before = by_generation(rotation.id)
    with paused_after_publish_reads(lambda: force_state(before[generation].id, moved_to)), pytest.raises(RuntimeError):
        engine.rotate(rotation.id, manual=True)

    creds = by_generation(rotation.id)
    assert creds[generation].state == moved_to  # the other writer's change stands
    assert creds[3].state in {"revoking", "revoked"} and creds[3].published_at is None
    assert published_key(rotation.id) == published_key_of(before[2])
    assert secret(rotation.id).version == 2 and row(rotation.id).active_index == 1


def test_a_lost_lease_after_a_good_publish_does_not_fail_the_rotation(provider_case, monkeypatch):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)  # g1 inactive, g2 active
    case.fault("revoke", kind="status", status=500, times=1)  # g1's revocation after the next publish fails
    real_revoke_now = engine.revoke_now

    def revoke_then_lose_the_lease(*args, **kwargs) -> bool:
        done = real_revoke_now(*args, **kwargs)
        update_row(rotation.id, lease_owner=lease.new_owner(), lease_expires_at=utcnow() + timedelta(minutes=5))
        return done

    monkeypatch.setattr(engine, "revoke_now", revoke_then_lose_the_lease)

    result = engine.rotate(rotation.id, manual=True)  # raised LeaseLost (a 500) before the fix

    creds = by_generation(rotation.id)
    assert result.rotation_status == "success" and result.active_index == 0
    assert creds[3].state == "active" and published_key(rotation.id) == published_key_of(creds[3])
    assert case.key_works(published_key(rotation.id))
    assert creds[1].state == "revoking"  # still queued; the worker's drain retries it
