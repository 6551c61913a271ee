"""Issue 10 A7: pointing a connection at another account must not turn revocations into silent leaks.

Each key row records a fingerprint of the management credential that minted it (or that was later shown to see
it). A connection's credentials can change while keys are live only if the new credential sees every one of them;
a 404 on revoke counts as revoked only when the revoking credential is the key's own. Every test runs on both
providers and both databases."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session, select

from app import db
from app.errors import BadRequest
from app.models import AppConnection, AuditLog
from app.models.credential import CredentialState
from app.rotation import changes, engine, revocations
from app.rotation.upstream import credentials_fingerprint
from app.store.credentials import load_credentials, seal_credentials
from app.timeutil import utcnow
from tests.factories import create_rotation, credentials, new_intent, new_rotation, published_key, update_credential

CONNECTIONS = "/api/v1/app-connections"


def _patch_key(case, client, api_key: str) -> httpx.Response:
    return client.patch(f"{CONNECTIONS}/{case.app}/{case.connection['id']}", json={"credentials": {"apiKey": api_key}})


def _connection_row(connection_id: str) -> AppConnection:
    with Session(db.engine()) as session:
        return session.get_one(AppConnection, connection_id)


def _swap_key_underneath(connection_id: str, api_key: str) -> None:
    """Replace the connection's key without the API's check, as an update did before this fix."""
    with db.unit_of_work() as session:
        connection = session.get_one(AppConnection, connection_id)
        seal_credentials(connection, {"apiKey": api_key})
        session.add(connection)


def _revoke_now(cred_id: str) -> bool | None:
    """Queue one key and make one revocation attempt, whatever the rotation's own scheduling did with it."""
    cred = next(c for c in _all_rows() if c.id == cred_id)
    if cred.state != CredentialState.REVOKED:
        update_credential(cred_id, state=CredentialState.REVOKING, slot=None, revoke_not_before=None)
    return revocations.attempt(cred_id)


def _all_rows():
    from app.models import RotationCredential

    with Session(db.engine()) as session:
        return list(session.exec(select(RotationCredential)).all())


def _delete_at_provider(case, key_id: str) -> None:
    """Delete a key behind keyturn's back, with the connection's original management key."""
    path = f"/keys/{key_id}" if case.app == "open-router" else f"/v1/keys/{key_id}"
    response = httpx.delete(case.emulator.base_url + path, headers={"Authorization": f"Bearer {case.management_key}"})
    assert response.status_code in (200, 204), response.text


# --- the update check ----------------------------------------------------------------------


def test_pointing_the_connection_at_another_account_is_refused_while_its_keys_live(provider_case, client):
    case = provider_case
    rotation = create_rotation(case)
    [g1] = credentials(rotation.id)
    before = _connection_row(case.connection["id"])
    other_account = case.emulator.create_management_key(account="b")

    response = _patch_key(case, client, other_account)

    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "1 key" in message and "cannot see" in message
    assert other_account not in response.text and case.management_key not in response.text
    assert g1.key_id not in message  # the count, never a key
    after = _connection_row(case.connection["id"])
    assert (after.encrypted_credentials, after.credentials_hash, after.version) == (
        before.encrypted_credentials,
        before.credentials_hash,
        before.version,
    )
    assert load_credentials(after) == {"apiKey": case.management_key}
    with Session(db.engine()) as session:
        assert not session.exec(select(AuditLog).where(AuditLog.event == "update-app-connection")).all()

    # The rotation carries on in the account that holds its keys.
    engine.rotate(rotation.id, manual=True)
    assert {c.key_id for c in credentials(rotation.id)} <= case.live_ids()
    assert case.key_works(published_key(rotation.id))


def test_every_live_key_counts_and_an_unseen_one_is_enough_to_refuse(provider_case, client):
    case = provider_case
    first = create_rotation(case)
    engine.rotate(first.id, manual=True)  # g1 inactive, g2 active
    second = new_rotation(case, name="second-rotation", key_name="second-key")
    second.secrets_mapping = {"apiKey": "SECOND_KEY"}
    engine.create_rotation(second, secret_name="SECOND_KEY", recheck=lambda session: None)
    response = _patch_key(case, client, case.emulator.create_management_key(account="b"))
    assert response.status_code == 400
    assert "3 keys" in response.json()["message"]


def test_another_key_of_the_same_account_takes_over_the_keys(provider_case, client):
    case = provider_case
    rotation = create_rotation(case)
    [g1] = credentials(rotation.id)
    same_account = case.emulator.create_management_key(name="second")

    response = _patch_key(case, client, same_account)

    assert response.status_code == 200, response.text
    [g1_after] = credentials(rotation.id)
    assert g1_after.credential_fingerprint != g1.credential_fingerprint  # the new key was shown to see it
    # So a 404 under the new key is trusted: the key is gone from the account both keys manage.
    _delete_at_provider(case, g1.key_id)
    assert _revoke_now(g1.id) is True
    assert [c.state for c in credentials(rotation.id)] == [CredentialState.REVOKED]


def test_the_check_refuses_when_the_provider_cannot_answer_and_writes_nothing(provider_case, client):
    case = provider_case
    create_rotation(case)
    before = _connection_row(case.connection["id"])
    same_account = case.emulator.create_management_key(name="second")
    # The first GET validates the new key; the ones after it are the visibility check: fail those.
    check = r"/keys/[^/]+$" if case.app == "open-router" else r"/v1/keys$"

    def fail_after_validation(request) -> None:
        case.emulator.after_request = None
        case.emulator.add_fault("GET", check, kind="status", status=503, times=None)

    case.emulator.after_request = fail_after_validation
    response = _patch_key(case, client, same_account)

    assert response.status_code == 400, response.text
    assert "could not confirm" in response.json()["message"]
    after = _connection_row(case.connection["id"])
    assert (after.encrypted_credentials, after.version) == (before.encrypted_credentials, before.version)


def test_the_same_key_again_needs_no_check(provider_case, client):
    case = provider_case
    create_rotation(case)
    case.emulator.add_fault("GET", r"/keys/[^/]+$", kind="status", status=503, times=None)
    response = _patch_key(case, client, case.management_key)
    assert response.status_code == 200, response.text


def test_a_key_still_being_minted_under_the_old_key_holds_the_change_back(provider_case, client):
    """Its id is unknown, so it cannot be looked up, and a listing under another account would never find it."""
    case = provider_case
    rotation = create_rotation(case)
    with db.unit_of_work() as session:
        session.add(
            new_intent(
                rotation_id=rotation.id,
                connection_id=case.connection["id"],
                provider=case.app,
                generation=2,
                base_name="my-app-key",
                now=utcnow(),
                credential_fingerprint=credentials_fingerprint({"apiKey": case.management_key}),
            )
        )
    response = _patch_key(case, client, case.emulator.create_management_key(account="b"))
    assert response.status_code == 400
    assert "1 key is still being minted" in response.json()["message"]
    assert load_credentials(_connection_row(case.connection["id"])) == {"apiKey": case.management_key}


# --- revocation ----------------------------------------------------------------------------


def test_each_key_records_the_fingerprint_of_the_credential_that_minted_it(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    engine.rotate(rotation.id, manual=True)
    g1, g2 = credentials(rotation.id)
    assert g1.credential_fingerprint and g1.credential_fingerprint == g2.credential_fingerprint
    assert case.management_key not in g1.credential_fingerprint
    # Stable for the same plaintext key, unlike the connection's credentialsHash (a hash of a fresh ciphertext).
    _swap_key_underneath(case.connection["id"], case.management_key)
    engine.rotate(rotation.id, manual=True)
    assert credentials(rotation.id)[-1].credential_fingerprint == g1.credential_fingerprint


def test_a_404_under_another_accounts_key_leaves_the_revocation_queued(provider_case):
    """The reported scenario: the key is swapped for account B's, the rotation runs, and g1 (live in account A)
    must not be recorded as revoked on B's 404."""
    case = provider_case
    rotation = create_rotation(case)
    _swap_key_underneath(case.connection["id"], case.emulator.create_management_key(account="b"))
    engine.rotate(rotation.id, manual=True)  # g2 is minted in account B
    engine.rotate(rotation.id, manual=True)  # g1 falls out of the overlap and is queued
    g1 = credentials(rotation.id)[0]

    _revoke_now(g1.id)

    g1 = credentials(rotation.id)[0]
    assert g1.state == CredentialState.REVOKING
    assert "other credentials" in (g1.last_error or "")
    assert g1.key_id in case.live_ids()  # still live in account A, and keyturn says so
    assert g1.encrypted_key is not None


def test_a_404_under_the_minting_key_counts_as_revoked(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    [g1] = credentials(rotation.id)
    _delete_at_provider(case, g1.key_id)
    assert _revoke_now(g1.id) is True
    assert credentials(rotation.id)[0].state == CredentialState.REVOKED


def test_deleting_the_rotation_with_its_keys_refuses_on_another_accounts_404(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    [g1] = credentials(rotation.id)
    _swap_key_underneath(case.connection["id"], case.emulator.create_management_key(account="b"))
    with pytest.raises(BadRequest) as refused:
        changes.delete_rotation(rotation.id, delete_secrets=True, revoke=True)
    assert "other credentials" in refused.value.message
    assert [c.state for c in credentials(rotation.id)] == [CredentialState.ACTIVE]  # the rotation is kept
    assert g1.key_id in case.live_ids()


def test_a_key_minted_under_the_new_account_is_revoked_there(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    _swap_key_underneath(case.connection["id"], case.emulator.create_management_key(account="b"))
    engine.rotate(rotation.id, manual=True)
    g2 = credentials(rotation.id)[1]
    assert _revoke_now(g2.id) is True
    assert g2.key_id not in case.live_ids()
