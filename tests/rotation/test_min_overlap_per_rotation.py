"""The minimum overlap is each rotation's own `revocation.minOverlapSeconds` (rotation §14k): it sets the queued
revocation's not-before, whatever the server's default is now, and a PATCH changes it for later revocations."""

from __future__ import annotations

from datetime import timedelta

from app.rotation import engine
from tests.factories import BASE, create_draft, credentials, new_rotation


def by_generation(rotation_id: str) -> dict:
    return {c.generation: c for c in credentials(rotation_id)}


def test_the_rotations_own_overlap_sets_the_queued_revocations_not_before(provider_case, settings):
    settings.revocation_min_overlap_seconds = 0  # the server default is not what counts
    draft = new_rotation(provider_case)
    draft.revocation_min_overlap_seconds = 120
    rotation = create_draft(provider_case, draft)
    engine.rotate(rotation.id, manual=True)
    engine.rotate(rotation.id, manual=True)  # g1 stopped being published a moment ago: queued, not revoked

    creds = by_generation(rotation.id)
    assert creds[1].state == "revoking" and creds[1].key_id in provider_case.live_ids()
    assert creds[1].revoke_not_before == creds[2].published_at + timedelta(seconds=120)


def test_a_rotation_with_no_overlap_revokes_at_once_under_a_server_default_of_five_minutes(provider_case, settings):
    settings.revocation_min_overlap_seconds = 300
    draft = new_rotation(provider_case)
    draft.revocation_min_overlap_seconds = 0
    rotation = create_draft(provider_case, draft)
    engine.rotate(rotation.id, manual=True)
    engine.rotate(rotation.id, manual=True)

    creds = by_generation(rotation.id)
    assert creds[1].state == "revoked" and creds[1].key_id not in provider_case.live_ids()


def test_a_new_rotation_takes_the_server_default_as_its_own(provider_case, settings):
    settings.revocation_min_overlap_seconds = 90
    rotation = create_draft(provider_case, new_rotation(provider_case))
    settings.revocation_min_overlap_seconds = 0  # later changes to the default do not reach it
    engine.rotate(rotation.id, manual=True)
    engine.rotate(rotation.id, manual=True)

    creds = by_generation(rotation.id)
    assert creds[1].revoke_not_before == creds[2].published_at + timedelta(seconds=90)


def test_a_patched_overlap_applies_to_the_next_revocation(client, provider_case):
    rotation = create_draft(provider_case, new_rotation(provider_case))  # overlap 0: the tests' default
    url = f"{BASE}/{provider_case.rotation_type}/{rotation.id}"
    response = client.patch(url, json={"revocation": {"minOverlapSeconds": 600}})
    assert response.status_code == 200, response.text
    for _ in range(2):
        assert client.post(f"{url}/rotate-secrets").status_code == 200

    creds = by_generation(rotation.id)
    assert creds[1].state == "revoking"
    assert creds[1].revoke_not_before == creds[2].published_at + timedelta(seconds=600)
