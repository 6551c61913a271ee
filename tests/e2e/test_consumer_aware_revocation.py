"""Issue 12, Done means 1, 2, 3 and 5, end to end: when a superseded key is revoked depends on who still uses it.
`keyturn serve` (embedded worker), a provider emulator and consumers that read through the secrets API as
identities and call the provider with what they read; both providers, both databases (tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.factories import holds_for, ts, wait_until

pytestmark = pytest.mark.slow

READ_EVERY = 2  # consumer A's refresh period (Done means 1)
START_TIMEOUT = 15  # a consumer's login, first read and first call on a shared two-core machine


def _revoked_at(stack, key: str, timeout: float, what: str) -> float:
    """When the emulator first refused `key` (polled every 0.1 s, so at most that much after the DELETE)."""
    return wait_until(lambda: not stack.key_works(key) and time.time(), timeout, what)


def _revoked_entry(rotation, generation: int) -> dict:
    """The history entry once keyturn has recorded the revocation (it commits just after the provider's DELETE)."""
    return wait_until(
        lambda: (entry := rotation.entry(generation))["state"] == "revoked" and entry,
        5,
        f"generation {generation} recorded as revoked",
    )


def _key_view(rotation, generation: int) -> tuple[dict, dict | None]:
    view = rotation.consumers()
    return view, next((k for k in view["keys"] if k["generation"] == generation), None)


# --- 1. a refreshing consumer --------------------------------------------------------------------


def test_a_refreshing_consumer_lets_its_old_key_go_soon_after_migrating_and_never_gets_a_401(stack):
    p = stack.policy
    rotation = stack.rotation("refreshing", mode="when-unused")
    a = stack.consumer(rotation, "consumer-a", read_every=READ_EVERY)
    wait_until(a.first_success, START_TIMEOUT, "consumer A's first successful call")
    old = a.key

    assert rotation.rotate().status_code == 200
    migrated = wait_until(lambda: a.first_read_other_than(old), READ_EVERY + 5, "consumer A to read the new key")
    revoked_at = _revoked_at(stack, old, p.unused_bound + 15, "the superseded key's revocation")
    wait_until(lambda: a.calls[-1].started > revoked_at, 5, "a call by A after the revocation")
    a.stop()

    took = revoked_at - migrated.ended
    print(f"superseded key revoked {took:.1f} s after consumer A migrated (bound {p.unused_bound} s)")
    assert took <= p.unused_bound, f"revoked {took:.1f} s after A migrated; the bound is {p.unused_bound} s"
    entry = _revoked_entry(rotation, 1)
    overlap = ts(entry["revokedAt"]) - ts(entry["supersededAt"])
    assert overlap >= p.min_overlap - 0.002, f"revoked {overlap:.3f} s after it was superseded"
    assert a.statuses() == {200: len(a.calls)}, f"consumer A's provider answers: {a.statuses()}"
    assert not a.read_errors, a.read_errors
    assert any(c.key == old for c in a.calls) and any(c.key == migrated.value for c in a.calls)


# --- 2. a consumer that reads once ---------------------------------------------------------------


def test_a_consumer_that_reads_once_holds_its_key_for_max_hold_and_gets_a_401_only_after(stack):
    p = stack.policy
    rotation = stack.rotation("read-once", mode="when-unused")
    b = stack.consumer(rotation, "consumer-b", read_every=None)
    wait_until(b.first_success, START_TIMEOUT, "consumer B's first successful call")
    old = b.key
    assert rotation.rotate().status_code == 200

    # Held (once its revocation is due): the consumers view names B as not migrated and its key as in use.
    view, key = wait_until(
        lambda: (found := _key_view(rotation, 1))[1] and found[1]["heldUntil"] and found,
        p.min_overlap + p.quiet + 10,
        "generation 1 shown held in the consumers view",
    )
    assert key["inUse"] is True, key
    assert view["activeGeneration"] == 2, view
    [consumer] = view["consumers"]
    assert consumer["identityId"] == b.identity_id and consumer["identityName"] == "consumer-b", consumer
    assert consumer["migrated"] is False, consumer
    assert consumer["lastReadGeneration"] == 1 and consumer["lastReadVersion"] == b.reads[0].version, consumer
    assert consumer["ipAddress"] == "127.0.0.1", consumer
    assert any("consumer-b" in reason for reason in key["inUseBecause"]), key
    superseded = ts(key["supersededAt"])
    deadline = superseded + p.min_overlap + p.max_hold  # the hold clock starts at supersededAt + minOverlap
    assert key["heldUntil"] is not None and abs(ts(key["heldUntil"]) - deadline) <= 1, (key, deadline)
    assert stack.key_works(old)

    # The schedule goes on meanwhile: three live keys (the held one, the one just superseded, the new one).
    wait_until(lambda: rotation.active_generation() == 3, p.interval + 10, "the scheduled rotation to generation 3")
    assert time.time() < deadline and stack.key_works(old)
    assert len(stack.emulator.live_keys()) == 3, stack.emulator.live_keys()

    revoked_at = _revoked_at(stack, old, deadline - time.time() + p.quiet + 10, "the forced revocation")
    wait_until(lambda: b.calls[-1].started > revoked_at, 5, "a call by B after the revocation")
    b.stop()

    assert revoked_at >= deadline, f"revoked {deadline - revoked_at:.1f} s before maxHoldSeconds ran out"
    late = revoked_at - deadline
    print(f"held key revoked {late:.1f} s after maxHoldSeconds ran out")
    assert late <= p.quiet + 2 * p.poll, f"revoked {late:.1f} s after maxHoldSeconds ran out"
    entry = _revoked_entry(rotation, 1)
    assert ts(entry["revokedAt"]) >= deadline - 0.002, entry
    assert entry["heldSince"] is not None, entry
    assert superseded + p.min_overlap - 0.002 <= ts(entry["heldSince"]) <= ts(entry["revokedAt"]), entry
    assert "consumer-b" in (entry["holdReason"] or ""), entry
    forced = [e for e in stack.audit_log() if "forced" in e["eventType"]]
    assert any("consumer-b" in json.dumps(e["metadata"]) for e in forced), forced

    # B's calls: 200 up to the revocation, then 401 and only 401.
    first_401 = next((i for i, c in enumerate(b.calls) if c.status == 401), None)
    assert first_401 is not None, b.statuses()
    before, after = b.calls[:first_401], b.calls[first_401:]
    assert {c.status for c in before} == {200}, b.statuses()
    assert {c.status for c in after} == {401}, b.statuses()
    assert after[0].ended >= deadline
    assert before[-1].started >= deadline - 3, "B stopped calling long before the hold ended"


# --- 3. a consumer keyturn cannot see ------------------------------------------------------------


def test_a_key_used_only_outside_keyturn_is_held_while_the_provider_sees_traffic(stack):
    p = stack.policy
    rotation = stack.rotation("outside", mode="when-unused")
    old, _ = rotation.admin_value()  # the admin token is no consumer: keyturn sees no reads of this key
    outsider = stack.outsider(old)
    wait_until(outsider.first_success, START_TIMEOUT, "the outside caller's first successful call")
    assert rotation.rotate().status_code == 200
    superseded = ts(rotation.entry(1)["supersededAt"])

    # An unused key would be gone by now (Done means 1's bound, counted from the supersede): this one stays.
    holds_for(lambda: stack.key_works(old), superseded + p.unused_bound, "the outside caller's key")
    view, key = _key_view(rotation, 1)
    assert view["consumers"] == [], view
    assert key is not None and key["inUse"] is True and key["inUseBecause"], view
    usage = key["providerUsage"]
    assert usage is not None, key
    if stack.spec.app == "open-router":
        assert usage["usage"] > 0, usage
    else:
        assert usage["lastUsedAt"] is not None, usage
    entry = rotation.entry(1)
    assert entry["heldSince"] is not None and entry["holdReason"], entry

    # Once the traffic stops, the key goes after a quiet window, long before maxHoldSeconds.
    outsider.stop()
    last_call = outsider.calls[-1].ended
    revoked_at = _revoked_at(stack, old, p.unused_bound + 15, "the revocation once the traffic stopped")
    quiet_for = revoked_at - last_call
    print(f"outside key revoked {quiet_for:.1f} s after its last use")
    assert quiet_for <= 2 * p.quiet + 5, f"revoked {quiet_for:.1f} s after the last call"
    assert set(outsider.statuses()) == {200}, outsider.statuses()
    entry = _revoked_entry(rotation, 1)
    assert entry["heldSince"] is not None and entry["holdReason"], entry


# --- 5. two quick rotations ----------------------------------------------------------------------


def test_two_rotations_a_second_apart_never_revoke_a_key_read_within_the_minimum_overlap(stack):
    """Both modes at once, one rotation and one refreshing consumer each."""
    p = stack.policy
    modes = ("scheduled", "when-unused")
    rotations = {mode: stack.rotation(f"quick-{mode}", mode=mode) for mode in modes}
    readers = {mode: stack.consumer(rotations[mode], f"consumer-{mode}", read_every=READ_EVERY) for mode in modes}
    for mode in modes:
        wait_until(readers[mode].first_success, START_TIMEOUT, f"the {mode} consumer's first successful call")
    firsts = {mode: readers[mode].key for mode in modes}

    for round_ in range(2):
        for mode in modes:
            assert rotations[mode].rotate().status_code == 200
        if round_ == 0:
            time.sleep(1)  # the scenario: the second rotation a second after the first

    # Watch every key each consumer read until the first ones are gone (scheduled: generation 1, whose
    # revocation generation 3 queued; when-unused: generations 1 and 2, or all but the active one).
    died: dict[tuple[str, str], float] = {}

    def first_keys_gone() -> bool:
        now = time.time()
        for mode in modes:
            for read in list(readers[mode].reads):
                if (mode, read.value) not in died and not stack.key_works(read.value):
                    died[(mode, read.value)] = now
        return all((mode, firsts[mode]) in died for mode in modes)

    wait_until(first_keys_gone, READ_EVERY + p.unused_bound + 15, "generation 1 of both rotations to be revoked")
    for reader in readers.values():
        reader.stop()

    for (mode, key), dead_at in died.items():
        gap = dead_at - readers[mode].last_read_start(key)
        print(f"{mode}: a key revoked {gap:.1f} s after the consumer last read it")
        assert gap >= p.min_overlap, f"{mode}: a key the consumer read {gap:.1f} s earlier was revoked"
    for mode, reader in readers.items():
        assert reader.statuses() == {200: len(reader.calls)}, f"{mode} consumer's provider answers: {reader.statuses()}"
        assert not reader.read_errors, reader.read_errors
