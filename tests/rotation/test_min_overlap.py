"""A superseded key is never revoked sooner than the minimum overlap after it stopped being published; until
then its revocation waits in the queue (issue 10, B8)."""

from __future__ import annotations

from datetime import timedelta

from app.config import Settings
from app.rotation import engine, revocations
from app.rotation.intents import open_key
from app.timeutil import utcnow
from tests.factories import ADMIN_TOKEN, ROOT_KEY, create_rotation, credentials, row, update_credential

OVERLAP = 300


def by_generation(rotation_id: str) -> dict:
    return {c.generation: c for c in credentials(rotation_id)}


def test_two_quick_rotations_keep_the_key_consumers_just_read_until_the_overlap_ends(provider_case, settings):
    settings.revocation_min_overlap_seconds = OVERLAP
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)  # g1 stops being published
    g1_key = open_key(by_generation(rotation.id)[1])
    engine.rotate(rotation.id, manual=True)  # a second later

    creds = by_generation(rotation.id)
    assert case.key_works(g1_key)  # a service that read g1 a moment ago still holds a working key
    assert creds[1].state == "revoking" and creds[1].key_id in case.live_ids()
    assert creds[1].revoke_not_before == creds[2].published_at + timedelta(seconds=OVERLAP)
    assert creds[1].revoke_attempts == 0 and row(rotation.id).last_rotation_message is None  # waiting, not failing
    assert revocations.drain() == 0  # the worker's drain leaves it queued

    update_credential(creds[1].id, revoke_not_before=utcnow())  # the overlap has passed
    assert revocations.drain() == 1
    assert by_generation(rotation.id)[1].state == "revoked" and not case.key_works(g1_key)
    assert case.live_ids() == {creds[2].key_id, creds[3].key_id}


def test_a_key_unpublished_longer_than_the_overlap_ago_is_revoked_at_once(provider_case, settings):
    settings.revocation_min_overlap_seconds = OVERLAP
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)
    g2 = by_generation(rotation.id)[2]
    update_credential(g2.id, published_at=utcnow() - timedelta(seconds=OVERLAP + 1))  # g1 unpublished long ago
    engine.rotate(rotation.id, manual=True)
    creds = by_generation(rotation.id)
    assert creds[1].state == "revoked"
    assert case.live_ids() == {creds[2].key_id, creds[3].key_id}


def test_the_overlap_defaults_to_five_minutes_and_is_read_from_the_environment(monkeypatch):
    assert Settings(root_key=ROOT_KEY, admin_token=ADMIN_TOKEN).revocation_min_overlap_seconds == 300
    monkeypatch.setenv("KEYTURN_REVOCATION_MIN_OVERLAP_SECONDS", "0")
    assert Settings(root_key=ROOT_KEY, admin_token=ADMIN_TOKEN).revocation_min_overlap_seconds == 0
