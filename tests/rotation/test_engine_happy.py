"""The dual-phase rotation against the emulator: creation, two rotations, generations and slots."""

from __future__ import annotations

import re

import pytest

from app.rotation import engine
from tests.rotation.state import create, credentials, live_ids, live_names, published_key, row, secret, states


def test_create_mints_generation_one_and_publishes_it(client, project, connection, openrouter):
    rotation = create(project, connection)
    creds = credentials(rotation.id)
    assert [(c.generation, c.state, c.slot) for c in creds] == [(1, "active", 0)]
    assert re.fullmatch(rf"my-app-key-\d{{8}}-g1-{rotation.id[:8]}", creds[0].key_name)
    assert live_names(openrouter) == {creds[0].key_name}
    assert live_ids(openrouter) == {creds[0].key_id}
    assert openrouter.key_works(published_key(rotation.id))
    stored = row(rotation.id)
    assert stored.next_generation == 2 and stored.active_index == 0 and stored.rotation_status == "success"
    assert stored.is_last_rotation_manual and stored.next_rotation_at is not None
    assert secret(rotation.id).version == 1
    assert creds[0].encrypted_key and not creds[0].encrypted_key.startswith("sk-")


def test_two_rotations_leave_generations_two_and_three_live(client, project, connection, openrouter):
    rotation = create(project, connection)
    engine.rotate(rotation.id, manual=True)
    after_one = row(rotation.id)
    assert after_one.active_index == 1 and states(rotation.id) == {1: "inactive", 2: "active"}
    engine.rotate(rotation.id, manual=True)
    creds = {c.generation: c for c in credentials(rotation.id)}
    assert {g: c.state for g, c in creds.items()} == {1: "revoked", 2: "inactive", 3: "active"}
    assert creds[1].revoked_at is not None and creds[1].encrypted_key is None
    assert live_ids(openrouter) == {creds[2].key_id, creds[3].key_id}
    final = row(rotation.id)
    assert final.active_index == 0 and creds[3].slot == 0 and creds[2].slot == 1
    assert final.next_generation == 4 and final.rotation_status == "success" and final.is_last_rotation_manual
    assert final.last_rotation_job_id is None and final.last_rotation_message is None
    assert secret(rotation.id).version == 3
    key = published_key(rotation.id)
    assert openrouter.key_works(key)


def test_check_credentials_verifies_the_active_key(client, project, connection, openrouter):
    rotation = create(project, connection)
    engine.check_credentials(rotation.id)
    openrouter.add_fault("GET", r"/key$", kind="status", status=401, times=None)
    with pytest.raises(Exception) as info:
        engine.check_credentials(rotation.id)
    assert info.value.status_code == 400
    assert info.value.message.startswith("OpenRouter API key verification failed: ")


def test_delete_with_revoke_removes_every_key_and_keeps_nothing(client, project, connection, openrouter):
    rotation = create(project, connection)
    engine.rotate(rotation.id, manual=True)
    deleted = engine.delete_rotation(rotation.id, delete_secrets=True, revoke=True)
    assert deleted.id == rotation.id
    assert live_ids(openrouter) == set()
    assert row(rotation.id) is None and credentials(rotation.id) == []


def test_delete_without_revoke_keeps_keys_live_and_the_secret(client, project, connection, openrouter):
    rotation = create(project, connection)
    key = published_key(rotation.id)
    engine.delete_rotation(rotation.id, delete_secrets=False, revoke=False)
    assert len(live_ids(openrouter)) == 1 and openrouter.key_works(key)
    assert credentials(rotation.id) == []
    from sqlmodel import Session, select

    from app import db
    from app.models import Secret
    with Session(db.engine()) as session:
        kept = session.exec(select(Secret)).one()
    assert kept.rotation_id is None
