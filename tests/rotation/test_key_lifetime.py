"""Key lifetime (issue 12, `revocation.keyLifetimeSeconds`): every key of such a rotation is minted with
`expires_at` at the provider and on its row, and a rotation whose active key expires within one interval is due,
even with auto-rotation off. OpenRouter only: ARouter keys cannot expire (rotation §14k)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.rotation import engine, lease
from tests.factories import BASE, create_draft, credentials, new_rotation, post_rotation, row, update_row

DAY = 86400
LIFETIME = 90 * DAY
INTERVAL = 30  # days, the tests' unit
pytestmark = pytest.mark.parametrize("provider_case", ["open-router"], indirect=True)


def with_lifetime(case, *, enabled: bool = True):
    draft = new_rotation(case, interval=INTERVAL, enabled=enabled)
    draft.revocation_key_lifetime_seconds = LIFETIME
    return create_draft(case, draft)


def emulator_expiry(case, key_id: str) -> datetime | None:
    (key,) = [k for k in case.live_keys() if k["hash"] == key_id]
    return None if key["expires_at"] is None else datetime.fromisoformat(key["expires_at"].replace("Z", "+00:00"))


def test_every_minted_key_carries_its_expiry_at_the_provider_and_on_its_row(provider_case):
    rotation = with_lifetime(provider_case)
    engine.rotate(rotation.id, manual=True)

    for cred in credentials(rotation.id):
        assert cred.expires_at is not None
        assert cred.expires_at - cred.created_at == pytest.approx(timedelta(seconds=LIFETIME), abs=timedelta(seconds=2))
        # Whole seconds on the wire (docs/providers.md).
        assert emulator_expiry(provider_case, cred.key_id) == cred.expires_at.replace(microsecond=0)
    active = credentials(rotation.id)[-1]
    assert row(rotation.id).expiry_due_at == active.expires_at - timedelta(days=INTERVAL)


def test_without_a_lifetime_keys_never_expire_and_nothing_is_due_for_expiry(provider_case):
    rotation = create_draft(provider_case, new_rotation(provider_case))
    (cred,) = credentials(rotation.id)
    assert cred.expires_at is None and emulator_expiry(provider_case, cred.key_id) is None
    assert row(rotation.id).expiry_due_at is None


def test_a_key_expiring_within_one_interval_makes_even_a_paused_rotation_due(provider_case):
    rotation = with_lifetime(provider_case, enabled=False)
    owner, taken = lease.claim_due(10)
    assert rotation.id not in taken  # paused, and its key far from expiry

    update_row(rotation.id, expiry_due_at=datetime.now(UTC) - timedelta(seconds=1))
    owner, taken = lease.claim_due(10)
    assert taken == [rotation.id]
    engine.rotate(rotation.id, manual=False, lease_owner=owner)

    creds = credentials(rotation.id)
    assert [c.state for c in creds] == ["inactive", "active"]
    stored = row(rotation.id)
    assert stored.expiry_due_at == creds[1].expires_at - timedelta(days=INTERVAL)
    assert stored.is_auto_rotation_enabled is False and stored.next_rotation_at is None
    assert lease.claim_due(10)[1] == []  # the new key is far from expiry


def test_changing_the_interval_moves_the_expiry_due_time_with_it(client, provider_case):
    case = provider_case
    rotation = post_rotation(client, case.project, case.connection, revocation={"keyLifetimeSeconds": 100 * DAY})
    (cred,) = credentials(rotation["id"])
    assert row(rotation["id"]).expiry_due_at == cred.expires_at - timedelta(days=30)

    response = client.patch(f"{BASE}/open-router-api-key/{rotation['id']}", json={"rotationInterval": 20})
    assert response.status_code == 200, response.text
    assert row(rotation["id"]).expiry_due_at == cred.expires_at - timedelta(days=20)
