"""Issue 12, Done means 4, end to end: after an emergency rotation (`{"revokeSuperseded": true}`, project admin
only) every earlier key of the rotation answers 401 at the provider as soon as the request returns, a key held
for a lagging consumer included. Both providers, both databases (tests/e2e/conftest.py)."""

from __future__ import annotations

import json
import time

import pytest

from tests.factories import bearer, ts, wait_until

pytestmark = pytest.mark.slow


def test_emergency_rotation_revokes_every_earlier_key_within_the_request(stack):
    p = stack.policy
    rotation = stack.rotation("compromised", mode="scheduled")
    b = stack.consumer(rotation, "consumer-b", read_every=None)  # keeps generation 1 in use: a hold to override
    wait_until(b.first_success, 15, "consumer B's first successful call")
    keys = [b.key]
    for _ in range(2):
        assert rotation.rotate().status_code == 200
        keys.append(rotation.admin_value()[0])
    # Generation 1 is queued and held for B, 2 is the inactive key, 3 the active one: all three live.
    wait_until(lambda: rotation.entry(1)["heldSince"], p.min_overlap + p.quiet + 10, "generation 1 to be held")
    assert [stack.chat(k) for k in keys] == [200, 200, 200]

    _, member = stack.identity("on-call", role="member")
    refused = rotation.rotate({"revokeSuperseded": True}, headers=bearer(member))
    assert refused.status_code == 403, refused.text
    assert refused.json()["statusCode"] == 403 and refused.json()["reqId"], refused.text
    assert rotation.active_generation() == 3 and [stack.chat(k) for k in keys] == [200, 200, 200]

    _, admin = stack.identity("incident-lead", role="admin")
    started = time.time()
    response = rotation.rotate({"revokeSuperseded": True}, headers=bearer(admin))
    answered = time.time()
    print(f"emergency rotation answered in {answered - started:.2f} s")
    assert response.status_code == 200, response.text
    assert [stack.chat(k) for k in keys] == [401, 401, 401]
    new, _ = rotation.admin_value()
    assert new not in keys and stack.chat(new) == 200
    assert {e["generation"]: e["state"] for e in rotation.history()} == {
        1: "revoked",
        2: "revoked",
        3: "revoked",
        4: "active",
    }
    for entry in rotation.history()[1:]:
        assert started - 1 <= ts(entry["revokedAt"]) <= answered + 1, entry
    emergency = [e for e in stack.audit_log() if e["resourceId"] == rotation.id and "emergency" in json.dumps(e)]
    assert emergency, "no audit entry records the emergency rotation"
    wait_until(lambda: b.calls[-1].status == 401, 5, "consumer B's next call to be refused")
