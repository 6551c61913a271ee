"""Emergency rotation (rotation §14l): `POST …/rotate-secrets` with `{"revokeSuperseded": true}` publishes a new key
and revokes every other live key of the rotation within the request, ignoring the overlap; only project admins
may; the answer is 200 only once the provider confirmed every revocation, else 502 naming what is still live."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app import catalogue, db
from app.models import AuditLog, RotationCredential
from app.rotation import emergency, engine, lease, publish, revocations
from app.rotation.audit_events import FORCED_REVOCATION_EVENT, ROTATE_EVENT
from app.timeutil import utcnow
from tests.factories import (
    BASE,
    as_identity,
    create_draft,
    credentials,
    new_rotation,
    published_key,
    update_credential,
)

EMERGENCY = {"revokeSuperseded": True}
OVERLAP = 600  # long enough that no plain rotation here revokes anything


def url(case, rotation_id: str) -> str:
    return f"{BASE}/{case.rotation_type}/{rotation_id}/rotate-secrets"


def rotation_with_history(case, client) -> tuple[str, list[str]]:
    """A rotation rotated twice by plain rotate-now under a long overlap: g1 queued (not due), g2 inactive,
    g3 active, all live at the provider. Returns its id and the three keys' plaintexts."""
    draft = new_rotation(case)
    draft.revocation_min_overlap_seconds = OVERLAP
    rotation = create_draft(case, draft)
    keys = [published_key(rotation.id)]
    for _ in range(2):
        response = client.post(url(case, rotation.id))
        assert response.status_code == 200, response.text
        keys.append(published_key(rotation.id))
    assert [(c.generation, c.state) for c in credentials(rotation.id)] == [
        (1, "revoking"),
        (2, "inactive"),
        (3, "active"),
    ]
    assert all(case.key_works(key) for key in keys)
    return rotation.id, keys


def add_minted_copy(case, rotation_id: str, generation: int) -> tuple[str, str]:
    """A second key under a generation's name, recorded as copy 1 and never published (reconciliation records such
    a key as `minted`). Returns its key id and plaintext."""
    original = next(c for c in credentials(rotation_id) if c.generation == generation)
    wire = catalogue.wire(case.app)
    assert wire is not None
    minted = wire.mint({"apiKey": case.management_key}, name=original.key_name, parameters={})
    with db.unit_of_work() as session:
        session.add(
            RotationCredential(
                rotation_id=rotation_id,
                connection_id=original.connection_id,
                provider=original.provider,
                generation=generation,
                copy_number=1,
                key_name=original.key_name,
                key_id=minted.key_id,
                state="minted",
                credential_fingerprint=original.credential_fingerprint,
            )
        )
    return minted.key_id, minted.api_key


def audit_rows(rotation_id: str, event: str) -> list[AuditLog]:
    with Session(db.engine()) as session:
        return list(
            session.exec(
                select(AuditLog)
                .where(AuditLog.resource_id == rotation_id, AuditLog.event == event)
                .order_by(AuditLog.created_at)  # type: ignore[arg-type]
            ).all()
        )


def test_every_earlier_key_is_gone_at_the_provider_when_the_request_returns(client, provider_case):
    case = provider_case
    rotation_id, old_keys = rotation_with_history(case, client)
    copy_id, copy_key = add_minted_copy(case, rotation_id, 2)

    response = client.post(url(case, rotation_id), json=EMERGENCY)

    assert response.status_code == 200, response.text
    assert response.json()["secretRotation"]["rotationStatus"] == "success"
    creds = credentials(rotation_id)
    active = [c for c in creds if c.state == "active"]
    assert [c.generation for c in active] == [4]
    assert published_key(rotation_id) not in old_keys
    assert case.live_ids() == {active[0].key_id}
    assert not any(case.key_works(key) for key in [*old_keys, copy_key])
    assert case.key_works(published_key(rotation_id))
    revoked = {(c.generation, c.copy_number) for c in creds if c.state == "revoked"}
    assert revoked == {(1, 0), (2, 0), (2, 1), (3, 0)}
    assert all(c.revoked_at is not None and c.encrypted_key is None for c in creds if c.state == "revoked")
    assert copy_id not in case.live_ids()


def test_the_rotation_event_says_emergency_and_each_forced_revocation_is_audited(client, provider_case):
    case = provider_case
    rotation_id, old_keys = rotation_with_history(case, client)
    assert client.post(url(case, rotation_id), json=EMERGENCY).status_code == 200

    rotations = audit_rows(rotation_id, ROTATE_EVENT)
    assert [r.metadata_entries.get("trigger") for r in rotations] == [None, None, "emergency"]
    assert rotations[-1].metadata_entries["generation"] == 4
    assert rotations[-1].actor == "admin"
    forced = audit_rows(rotation_id, FORCED_REVOCATION_EVENT)
    by_generation = {r.metadata_entries["generation"]: r.metadata_entries for r in forced}
    assert sorted(by_generation) == [1, 2, 3]
    assert {g: m["previousState"] for g, m in by_generation.items()} == {1: "revoking", 2: "revoking", 3: "inactive"}
    key_ids = {c.generation: c.key_id for c in credentials(rotation_id)}
    assert all(m["keyIdPrefix"] == key_ids[g][:12] and m["trigger"] == "emergency" for g, m in by_generation.items())
    logged = str([r.metadata_entries for r in [*rotations, *forced]])
    assert not any(key in logged for key in [*old_keys, published_key(rotation_id)])


def test_a_member_gets_403_and_nothing_changes(client, provider_case):
    case = provider_case
    rotation_id, _ = rotation_with_history(case, client)
    before = [(c.generation, c.state) for c in credentials(rotation_id)]
    live, minted = case.live_ids(), case.create_count
    headers = as_identity(client, case.project, "member")

    response = client.post(url(case, rotation_id), json=EMERGENCY, headers=headers)

    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "PermissionDenied" and set(body) >= {"reqId", "statusCode", "message"}
    assert body["message"] == (
        "You are not allowed to revoke-superseded on secret-rotation in environment 'dev' at path '/': "
        "role 'member' does not include this action"
    )
    assert [(c.generation, c.state) for c in credentials(rotation_id)] == before
    assert case.live_ids() == live and case.create_count == minted
    assert audit_rows(rotation_id, FORCED_REVOCATION_EVENT) == []
    # A member's plain rotate-now stays allowed, with or without the flag set to false.
    for body in (None, {}, {"revokeSuperseded": False}):
        assert client.post(url(case, rotation_id), json=body, headers=headers).status_code == 200


def test_an_unconfirmed_revocation_answers_502_naming_what_is_still_live_and_stays_queued(client, provider_case):
    case = provider_case
    rotation_id, old_keys = rotation_with_history(case, client)
    case.fault("revoke", kind="status", status=500, times=None)

    response = client.post(url(case, rotation_id), json=EMERGENCY)

    assert response.status_code == 502, response.text
    body = response.json()
    assert body["error"] == "ProviderError" and body["statusCode"] == 502 and body["reqId"]
    creds = {c.generation: c for c in credentials(rotation_id)}
    assert [g for g, c in creds.items() if c.state == "active"] == [4]  # the new key is published all the same
    assert body["details"] == [
        {"generation": g, "copyNumber": 0, "keyIdPrefix": creds[g].key_id[:12], "state": "revoking"} for g in (1, 2, 3)
    ]
    for g in (1, 2, 3):
        assert f"generation {g} (key id {creds[g].key_id[:12]}…)" in body["message"]
        assert creds[g].state == "revoking" and creds[g].revoke_attempts == 1 and creds[g].key_id in case.live_ids()
        assert creds[g].key_id not in body["message"]  # a prefix only
    assert not any(key in response.text for key in old_keys)
    assert audit_rows(rotation_id, FORCED_REVOCATION_EVENT) != []

    # The queue keeps them: once the provider answers again, the worker's drain revokes every one.
    case.emulator.clear_faults()
    for g in (1, 2, 3):
        update_credential(creds[g].id, revoke_not_before=utcnow() - timedelta(seconds=1))
    assert revocations.drain() == 3
    assert case.live_ids() == {creds[4].key_id}


@pytest.mark.parametrize("body", [None, {}, {"revokeSuperseded": False}])
def test_no_body_an_empty_body_and_false_are_a_plain_rotate_now(client, provider_case, body):
    case = provider_case
    rotation_id, old_keys = rotation_with_history(case, client)

    response = client.post(url(case, rotation_id), json=body)

    assert response.status_code == 200, response.text
    assert [(c.generation, c.state) for c in credentials(rotation_id)] == [
        (1, "revoking"),
        (2, "revoking"),  # queued behind the overlap, as a plain rotation does
        (3, "inactive"),
        (4, "active"),
    ]
    assert all(case.key_works(key) for key in old_keys)
    assert audit_rows(rotation_id, FORCED_REVOCATION_EVENT) == []
    assert "trigger" not in audit_rows(rotation_id, ROTATE_EVENT)[-1].metadata_entries


def test_the_infisical_clients_bodiless_call_is_a_plain_rotate_now(client, provider_case):
    case = provider_case
    rotation_id, _ = rotation_with_history(case, client)
    for headers in ({}, {"Content-Type": "application/json"}):
        response = client.post(url(case, rotation_id), content=b"", headers=headers)
        assert response.status_code == 200, response.text
    assert audit_rows(rotation_id, FORCED_REVOCATION_EVENT) == []


BAD_BODIES = [
    ({"revokeSuperseded": "true"}, ["revokeSuperseded"], "bool_type"),
    ({"revokeSuperseded": 1}, ["revokeSuperseded"], "bool_type"),
    ({"revokeSuperseded": None}, ["revokeSuperseded"], "bool_type"),
    ({"revokeSuperseded": True, "force": True}, [], "unrecognized_keys"),
    ({"revokesuperseded": True}, [], "unrecognized_keys"),
    ([], [], "model_attributes_type"),
    ("true", [], "model_attributes_type"),
]


@pytest.mark.parametrize("body, path, code", BAD_BODIES)
def test_a_bad_body_is_422_and_nothing_is_minted(client, provider_case, body, path, code):
    case = provider_case
    rotation_id, _ = rotation_with_history(case, client)
    minted = case.create_count

    response = client.post(url(case, rotation_id), json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationFailure"
    assert [(i["path"], i["code"]) for i in response.json()["message"]] == [(path, code)]
    assert case.create_count == minted


def test_a_publish_conflict_on_rotate_now_is_a_400_not_a_500(client, provider_case, monkeypatch):
    case = provider_case
    rotation_id, _ = rotation_with_history(case, client)

    def conflict(*args, **kwargs):
        raise publish.PublishConflict("credential x is no longer inactive; nothing was published")

    monkeypatch.setattr(publish, "new_key", conflict)
    for body in (None, EMERGENCY):
        response = client.post(url(case, rotation_id), json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "BadRequest"
        assert "nothing was published" in response.json()["message"]
    creds = credentials(rotation_id)
    assert [c.generation for c in creds if c.state == "active"] == [3]
    # The keys minted for the two attempts were discarded, not left live.
    assert all(c.state == "revoked" for c in creds if c.generation > 3)
    assert audit_rows(rotation_id, FORCED_REVOCATION_EVENT) == []


def test_a_rotation_held_by_someone_else_after_the_publish_answers_502_and_a_retry_finishes(
    client, provider_case, monkeypatch
):
    case = provider_case
    rotation_id, old_keys = rotation_with_history(case, client)
    real_rotate = engine.rotate
    other = []

    def rotate_then_lose_the_race(*args, **kwargs):
        rotated = real_rotate(*args, **kwargs)
        other.append(lease.acquire(rotation_id))  # another run takes the lease between publish and revoke
        return rotated

    monkeypatch.setattr(engine, "rotate", rotate_then_lose_the_race)
    monkeypatch.setattr(emergency, "LEASE_WAIT_SECONDS", 0.3)

    response = client.post(url(case, rotation_id), json=EMERGENCY)

    assert response.status_code == 502, response.text
    assert "could not all be queued" in response.json()["message"] and lease.BUSY_MESSAGE in response.json()["message"]
    assert [(d["generation"], d["state"]) for d in response.json()["details"]] == [
        (1, "revoking"),
        (2, "revoking"),
        (3, "inactive"),
    ]
    assert audit_rows(rotation_id, FORCED_REVOCATION_EVENT) == []
    assert all(case.key_works(key) for key in old_keys)

    monkeypatch.setattr(engine, "rotate", real_rotate)
    lease.release(rotation_id, other[0])
    assert client.post(url(case, rotation_id), json=EMERGENCY).status_code == 200
    assert not any(case.key_works(key) for key in old_keys)
    assert [c.generation for c in credentials(rotation_id) if c.state != "revoked"] == [5]


def test_a_failed_mint_revokes_nothing_and_its_failure_is_audited_as_emergency(client, provider_case):
    case = provider_case
    rotation_id, old_keys = rotation_with_history(case, client)
    case.fault("mint", kind="status", status=500, times=None)

    response = client.post(url(case, rotation_id), json=EMERGENCY)

    assert response.status_code == 502 and response.json()["error"] == "ProviderError"
    assert "details" not in response.json()  # the rotation's own failure, not the revocations'
    assert all(case.key_works(key) for key in old_keys)
    assert audit_rows(rotation_id, FORCED_REVOCATION_EVENT) == []
    failed = audit_rows(rotation_id, ROTATE_EVENT)[-1].metadata_entries
    assert (failed["status"], failed["trigger"]) == ("failed", "emergency")
