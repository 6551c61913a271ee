"""Deleting a rotation with revokeGeneratedCredentials (rotation §9, rotation §14e.6): the published key is
revoked last, only once every other key is gone, and the delete stops as soon as its lease is lost
(issue 10, A4 and A9)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.errors import BadRequest, ProviderFailure
from app.rotation import changes, engine, lease
from app.timeutil import utcnow
from tests.factories import ProviderCase, create_rotation, credentials, published_key, row, update_row


def by_generation(rotation_id: str) -> dict:
    return {c.generation: c for c in credentials(rotation_id)}


def fail_revoke_of(case: ProviderCase, key_id: str) -> None:
    """Every DELETE of this one key answers 500; other keys revoke normally."""
    method, path = case.spec.paths["revoke"]
    case.emulator.add_fault(method, path + re.escape(key_id) + "$", kind="status", status=500, times=None)


def test_delete_revokes_the_published_key_last_and_keeps_it_when_another_revocation_fails(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    # g2 is stuck in `revoking`: its verification failed and so did its revocation.
    case.fault("verify", kind="status", status=401, times=None)
    case.fault("revoke", kind="status", status=500, times=1)
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    case.emulator.clear_faults()
    creds = by_generation(rotation.id)
    assert creds[1].state == "active" and creds[2].state == "revoking" and creds[2].key_id in case.live_ids()
    fail_revoke_of(case, creds[2].key_id)

    with pytest.raises(BadRequest):
        changes.delete_rotation(rotation.id, delete_secrets=False, revoke=True)

    assert row(rotation.id) is not None  # rotation §9: nothing deleted
    creds = by_generation(rotation.id)
    assert creds[1].state == "active" and creds[1].key_id in case.live_ids()
    assert case.key_works(published_key(rotation.id))  # the secret still holds a working key


def test_delete_revokes_every_other_key_before_the_published_one(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)  # g1 inactive, g2 active
    engine.rotate(rotation.id, manual=True)  # g1 revoked, g2 inactive, g3 active
    creds = by_generation(rotation.id)
    case.emulator.request_log.clear()
    changes.delete_rotation(rotation.id, delete_secrets=False, revoke=True)
    deleted = [path for method, path, _ in case.emulator.request_log if method == "DELETE"]
    order = [next(g for g, c in creds.items() if c.key_id and path.endswith(c.key_id)) for path in deleted]
    assert order == [2, 3]
    assert case.live_ids() == set()


def test_delete_stops_revoking_once_its_lease_is_lost(provider_case, monkeypatch):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)  # g1 inactive, g2 active (published)
    creds = by_generation(rotation.id)
    real_for_connection = changes.for_connection

    class StealLeaseAfterRevoke:
        """The upstream as delete sees it; after the first revocation someone else takes the lease."""

        def __init__(self, upstream):
            self.upstream = upstream

        def revoke(self, key_id: str, **kwargs) -> bool:
            revoked = self.upstream.revoke(key_id, **kwargs)
            update_row(rotation.id, lease_owner=lease.new_owner(), lease_expires_at=utcnow() + timedelta(minutes=5))
            return revoked

    monkeypatch.setattr(changes, "for_connection", lambda s, cid: StealLeaseAfterRevoke(real_for_connection(s, cid)))

    with pytest.raises(BadRequest) as info:
        changes.delete_rotation(rotation.id, delete_secrets=False, revoke=True)

    assert info.value.message == lease.BUSY_MESSAGE
    assert row(rotation.id) is not None
    assert creds[1].key_id not in case.live_ids()  # revoked while the lease was ours
    assert creds[2].key_id in case.live_ids()  # the published key was not touched after the lease was lost
    assert case.key_works(published_key(rotation.id))
