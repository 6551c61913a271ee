"""The dual-phase rotation against each provider's emulator: creation, two rotations, generations and slots."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from app import db
from app.models import Secret
from app.rotation import changes, engine
from tests.factories import create_rotation, credentials, published_key, row, secret, states


def test_create_mints_generation_one_and_publishes_it(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    creds = credentials(rotation.id)
    assert [(c.generation, c.state, c.slot) for c in creds] == [(1, "active", 0)]
    assert re.fullmatch(rf"my-app-key-\d{{8}}-g1-{rotation.id[:8]}", creds[0].key_name)
    assert creds[0].provider == case.app
    assert case.live_names() == {creds[0].key_name}
    assert case.live_ids() == {creds[0].key_id}
    assert case.key_works(published_key(rotation.id))
    stored = row(rotation.id)
    assert stored.next_generation == 2 and stored.active_index == 0 and stored.rotation_status == "success"
    assert stored.is_last_rotation_manual and stored.next_rotation_at is not None
    assert secret(rotation.id).version == 1 and secret(rotation.id).key == case.secret_name
    assert creds[0].encrypted_key and not creds[0].encrypted_key.startswith(case.key_prefix)


def test_the_type_parameters_reach_the_provider(provider_case):
    case = provider_case
    create_rotation(case)
    [live] = case.live_keys()
    limit = case.parameters.get("limit", case.parameters.get("spendingLimit"))
    assert live[case.spec.limit_field] == limit
    if "allowedProviders" in case.parameters:
        assert live["allowed_providers"] == case.parameters["allowedProviders"]


def test_two_rotations_leave_generations_two_and_three_live(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)
    after_one = row(rotation.id)
    assert after_one.active_index == 1 and states(rotation.id) == {1: "inactive", 2: "active"}
    engine.rotate(rotation.id, manual=True)
    creds = {c.generation: c for c in credentials(rotation.id)}
    assert {g: c.state for g, c in creds.items()} == {1: "revoked", 2: "inactive", 3: "active"}
    assert creds[1].revoked_at is not None and creds[1].encrypted_key is None
    assert case.live_ids() == {creds[2].key_id, creds[3].key_id}
    final = row(rotation.id)
    assert final.active_index == 0 and creds[3].slot == 0 and creds[2].slot == 1
    assert final.next_generation == 4 and final.rotation_status == "success" and final.is_last_rotation_manual
    assert final.last_rotation_job_id is None and final.last_rotation_message is None
    assert secret(rotation.id).version == 3
    assert case.key_works(published_key(rotation.id))


def test_check_credentials_verifies_the_active_key(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    engine.check_credentials(rotation.id)
    case.fault("verify", kind="status", status=401, times=None)
    with pytest.raises(Exception) as info:
        engine.check_credentials(rotation.id)
    assert info.value.status_code == 400
    assert info.value.message == case.error("verify", 401)


def test_delete_with_revoke_removes_every_key_and_keeps_nothing(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)
    deleted = changes.delete_rotation(rotation.id, delete_secrets=True, revoke=True)
    assert deleted.id == rotation.id
    assert case.live_ids() == set()
    assert row(rotation.id) is None and credentials(rotation.id) == []


def test_delete_without_revoke_keeps_keys_live_and_the_secret(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    key = published_key(rotation.id)
    changes.delete_rotation(rotation.id, delete_secrets=False, revoke=False)
    assert len(case.live_ids()) == 1 and case.key_works(key)
    assert credentials(rotation.id) == []
    with Session(db.engine()) as session:
        kept = session.exec(select(Secret)).one()
    assert kept.rotation_id is None
