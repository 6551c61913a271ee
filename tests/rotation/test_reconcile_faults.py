"""Reconciliation under the faults issue 10 reproduced (A1, A2, A3, A8, A9), once per provider and database.

Each test checks the emulator's live keys and the rows: a key that ends live and unknown is an orphan."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from app import catalogue, db, timeutil
from app.errors import ProviderFailure
from app.models import RotationCredential
from app.rotation import engine, intents, minting, publish, reconcile, revocations
from app.rotation.intents import key_name
from app.rotation.upstream import credentials_fingerprint
from app.timeutil import utcnow
from tests.factories import create_rotation, credentials, new_intent, row, states, update_row


def rows_of(rotation_id: str, generation: int) -> list[RotationCredential]:
    return [c for c in credentials(rotation_id) if c.generation == generation]


def gen(rotation_id: str, generation: int) -> RotationCredential:
    """The generation's intent: its first row (extra keys found under its name come later)."""
    return min(rows_of(rotation_id, generation), key=lambda c: c.created_at)


def mint_direct(case, name: str) -> str:
    """A key made at the provider behind keyturn's back (another client, or a proxy's repeated POST)."""
    wire = catalogue.wire(case.app)
    assert wire is not None
    return wire.mint({"apiKey": case.management_key}, name=name, parameters={}).key_id


def g1_only(case, rotation_id: str) -> set[str]:
    return {gen(rotation_id, 1).key_id}


@pytest.fixture
def no_inline_reconcile(monkeypatch):
    """The run's own reconciliation after an ambiguous mint does not happen (it died, or it failed)."""
    monkeypatch.setattr(minting, "_close_failed_intent", lambda cred_id, exc: None)


# --- A1: one listing that misses a key never abandons its intent ---------------------------------


def test_a_listing_that_misses_the_key_mid_scan_does_not_abandon_the_intent(
    provider_case, settings, no_inline_reconcile
):
    case = provider_case
    rotation = create_rotation(case)
    case.fault("mint", kind="applied_then_drop")
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    assert states(rotation.id) == {1: "active", 2: "pending"}
    g2_key = next(k for k in case.live_keys() if k["name"] == gen(rotation.id, 2).key_name)[case.spec.id_field]
    newer = [mint_direct(case, f"other-app-{i:03d}") for i in range(100)]  # g2's key is now first on page 2
    wire = catalogue.wire(case.app)
    assert wire is not None
    pages: list[Any] = []

    def delete_one_between_pages(request) -> None:
        if request.method == "GET" and not pages:
            pages.append(request.path)
            wire.revoke({"apiKey": case.management_key}, newer[0])  # a concurrent revocation on page 1

    settings.intent_grace_seconds = 0.9
    time.sleep(1.0)
    case.emulator.after_request = delete_one_between_pages
    assert reconcile.reconcile_abandoned() == 1
    case.emulator.after_request = None
    assert pages, "the listing never ran"
    g2 = gen(rotation.id, 2)
    assert g2.state == "pending" and g2.negative_scans == 1  # one miss proves nothing
    time.sleep(0.35)  # a third of the grace: the next scan is due
    assert reconcile.reconcile_abandoned() == 1
    revocations.drain()
    g2 = gen(rotation.id, 2)
    assert g2.state == "revoked" and g2.key_id == g2_key
    assert g2_key not in case.live_ids()


def test_an_intent_is_abandoned_only_after_three_spaced_negative_scans(provider_case, settings):
    case = provider_case
    rotation = create_rotation(case)
    settings.intent_grace_seconds = 1.5
    case.fault("mint", kind="status", status=502)  # ambiguous, but no key was made
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    assert states(rotation.id) == {1: "active", 2: "pending"}  # the inline scan was too early to count
    time.sleep(1.6)
    cred_id = gen(rotation.id, 2).id
    for expected in (1, 1, 1):  # a scan is due once; a rotate-now's reconcile right after does not count
        reconcile.reconcile([cred_id])
        assert gen(rotation.id, 2).state == "pending"
        assert gen(rotation.id, 2).negative_scans == expected
    assert gen(rotation.id, 2).state == "pending"
    time.sleep(0.55)
    assert reconcile.reconcile_abandoned() == 1
    assert (gen(rotation.id, 2).state, gen(rotation.id, 2).negative_scans) == ("pending", 2)
    assert reconcile.reconcile_abandoned() == 0  # not due again yet
    time.sleep(0.55)
    assert reconcile.reconcile_abandoned() == 1
    assert (gen(rotation.id, 2).state, gen(rotation.id, 2).negative_scans) == ("abandoned", 3)
    assert case.live_ids() == g1_only(case, rotation.id)


# --- A2: the match does not depend on the host's clock ---------------------------------------------


def test_a_fast_host_clock_does_not_orphan_an_ambiguous_mint(provider_case, monkeypatch):
    case = provider_case
    rotation = create_rotation(case)
    real = timeutil.utcnow
    for module in list(sys.modules.values()):  # this host's clock runs 2 minutes fast; the provider's is right
        if getattr(module, "__name__", "").startswith("app.") and getattr(module, "utcnow", None) is real:
            monkeypatch.setattr(module, "utcnow", lambda: real() + timedelta(minutes=2))
    case.fault("mint", kind="applied_then_failed", status=502)
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    revocations.drain()
    g2 = gen(rotation.id, 2)
    assert g2.state == "revoked" and g2.key_id is not None
    assert case.live_ids() == g1_only(case, rotation.id)


# --- A3: every key carrying the intent's name is adopted -------------------------------------------


def test_every_key_carrying_the_intent_name_is_adopted_and_revoked(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    name = key_name(rotation.parameters["name"], rotation.id, 2, utcnow())
    first_try = mint_direct(case, name)  # a proxy forwarded the POST once before its retry below
    case.fault("mint", kind="applied_then_failed", status=502)
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    revocations.drain()
    assert case.live_ids() == g1_only(case, rotation.id)
    copies = rows_of(rotation.id, 2)
    assert sorted(c.copy_number for c in copies) == [0, 1]
    assert all(c.state == "revoked" and c.key_name == name for c in copies)
    assert first_try in {c.key_id for c in copies}
    assert case.live_ids() == g1_only(case, rotation.id)
    assert row(rotation.id).next_generation == 3


def test_a_mint_answer_arriving_after_adoption_of_another_copy_is_queued_too(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    name = key_name(rotation.parameters["name"], rotation.id, 2, utcnow())
    adopted = mint_direct(case, name)
    late = mint_direct(case, name)
    with db.unit_of_work() as session:
        intent = new_intent(
            rotation_id=rotation.id,
            connection_id=case.connection["id"],
            provider=case.app,
            generation=2,
            base_name=rotation.parameters["name"],
            now=utcnow(),
            credential_fingerprint=credentials_fingerprint({"apiKey": case.management_key}),
        )
        intent.state, intent.key_id = "revoking", adopted  # a reconciler adopted the first copy meanwhile
        session.add(intent)
    assert not intents.store_minted(intent.id, intents.MintedKey(key_id=late, api_key="unused"))
    revocations.drain()
    assert {c.key_id: c.state for c in rows_of(rotation.id, 2)} == {adopted: "revoked", late: "revoked"}
    assert case.live_ids() == g1_only(case, rotation.id)


# --- A8: a minted key of a dead run is revoked as soon as its lease lapses -------------------------


def test_a_minted_key_is_queued_once_its_lease_lapses_without_waiting_the_grace(provider_case, monkeypatch):
    case = provider_case
    rotation = create_rotation(case)
    # A run that died between storing its key and publishing it: nothing cleans up inline.
    monkeypatch.setattr(publish, "new_key", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
    monkeypatch.setattr(engine, "discard", lambda *a, **k: None)
    with pytest.raises(RuntimeError):
        engine.rotate(rotation.id, manual=True)
    assert states(rotation.id)[2] == "minted" and len(case.live_ids()) == 2
    update_row(rotation.id, lease_owner="lease-of-a-live-run", lease_expires_at=utcnow() + timedelta(seconds=30))
    assert reconcile.reconcile_abandoned() == 0  # its run may still publish it
    update_row(rotation.id, lease_expires_at=utcnow() - timedelta(seconds=1))  # the lease lapsed
    assert reconcile.reconcile_abandoned() == 1  # long before the grace (lease + 10 HTTP timeouts)
    revocations.drain()
    assert states(rotation.id)[2] == "revoked"
    assert case.live_ids() == g1_only(case, rotation.id)


def test_the_next_run_settles_a_minted_key_an_earlier_run_left_unpublished_before_minting(provider_case, monkeypatch):
    """The run's own lease statement finds the open intent (on SQLite too: its RETURNING once compared the
    intent table's own columns, found nothing and left the key to the slower abandoned-intent sweep)."""
    case = provider_case
    rotation = create_rotation(case)
    monkeypatch.setattr(publish, "new_key", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
    monkeypatch.setattr(engine, "discard", lambda *a, **k: None)
    with pytest.raises(RuntimeError):
        engine.rotate(rotation.id, manual=True)
    monkeypatch.undo()
    assert states(rotation.id) == {1: "active", 2: "minted"}
    engine.rotate(rotation.id, manual=True)
    assert states(rotation.id) == {1: "inactive", 2: "revoking", 3: "active"}  # queued before generation 3
    revocations.drain()
    assert states(rotation.id)[2] == "revoked"
    assert case.live_ids() == {c.key_id for c in credentials(rotation.id) if c.generation in (1, 3)}


def test_young_pending_intents_and_creates_in_progress_still_wait_the_grace(provider_case):
    case = provider_case
    rotation = create_rotation(case)
    now = utcnow()
    with db.unit_of_work() as session:
        pending = new_intent(
            rotation_id=rotation.id,
            connection_id=case.connection["id"],
            provider=case.app,
            generation=2,
            base_name="k",
            now=now,
            credential_fingerprint=credentials_fingerprint({"apiKey": case.management_key}),
        )
        creating = new_intent(  # a create holds no lease and has no rotation row until it publishes
            rotation_id="00000000-0000-4000-8000-000000000000",
            connection_id=case.connection["id"],
            provider=case.app,
            generation=1,
            base_name="k",
            now=now,
            credential_fingerprint=credentials_fingerprint({"apiKey": case.management_key}),
        )
        creating.state, creating.key_id = "minted", "key-of-a-create-in-progress"
        session.add_all([pending, creating])
    assert reconcile.abandoned_intents() == []
    with Session(db.engine()) as session:
        assert {c.state for c in session.exec(select(RotationCredential)).all()} == {"active", "pending", "minted"}


# --- A9: a proxy's 4xx after forwarding a create is ambiguous --------------------------------------


@pytest.mark.parametrize("status", [408, 499])
def test_a_create_answered_408_or_499_after_forwarding_is_reconciled(provider_case, status):
    case = provider_case
    rotation = create_rotation(case)
    case.fault("mint", kind="applied_then_failed", status=status)
    with pytest.raises(ProviderFailure):
        engine.rotate(rotation.id, manual=True)
    g2 = gen(rotation.id, 2)
    assert g2.state == "revoked" and g2.key_id is not None
    assert case.live_ids() == g1_only(case, rotation.id)
