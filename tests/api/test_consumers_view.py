"""The consumers view (rotation §14m): `GET …/{rotationId}/consumers` lists who read the rotation's secret and every
live key but the published one, with why it is still in use, from the database alone; permissions as X1's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import db
from app.models import RotationCredential
from app.reads import audit as read_audit
from app.timeutil import iso, utcnow
from tests.factories import (
    BASE,
    OR,
    bearer,
    credentials,
    grant,
    make_machine,
    seed_body,
    token_for,
    update_credential,
    wait_until,
)

IP = "127.0.0.1"  # the test client's address (tests/conftest.py)
KEY_FIELDS = {
    "generation",
    "keyId",
    "state",
    "supersededAt",
    "revokeAfter",
    "inUse",
    "inUseBecause",
    "providerUsage",
    "heldUntil",
}


def create(client, case, **revocation) -> dict:
    """A rotation of the case's type through the API, its keys kept live by a long overlap."""
    body = seed_body(
        case.project,
        case.connection,
        parameters=case.parameters,
        secretsMapping={"apiKey": case.secret_name},
        revocation={"minOverlapSeconds": 600, **revocation},
    )
    response = client.post(f"{BASE}/{case.rotation_type}", json=body)
    assert response.status_code == 200, response.text
    return response.json()["secretRotation"]


def reader(client, project: dict, name: str, roles="viewer", scope=None) -> tuple[str, dict]:
    """A machine identity with `roles` in the project: its id and request headers."""
    machine = make_machine(client, name)
    grant(client, project["id"], machine.identity_id, roles, scope)
    return machine.identity_id, bearer(token_for(client, machine))


def read(client, case, headers: dict) -> int:
    """The version `headers`' identity reads now."""
    response = client.get(
        f"/api/v3/secrets/raw/{case.secret_name}",
        params={"workspaceId": case.project["id"], "environment": "dev", "secretPath": "/"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["secret"]["version"]


def read_new(client, case, headers: dict, version: int) -> None:
    """Read until `version` is served: on PostgreSQL the read cache learns of a commit by NOTIFY, which a
    loaded machine can deliver a few milliseconds after the rotate-now's answer."""
    wait_until(lambda: read(client, case, headers) == version, 5, f"version {version} to be served")


def rotate(client, case, rotation: dict) -> None:
    response = client.post(f"{BASE}/{case.rotation_type}/{rotation['id']}/rotate-secrets")
    assert response.status_code == 200, response.text


def view(client, case, rotation: dict, headers: dict | None = None):
    return client.get(f"{BASE}/{case.rotation_type}/{rotation['id']}/consumers", headers=headers or {})


def by_generation(rotation_id: str) -> dict[int, RotationCredential]:
    return {c.generation: c for c in credentials(rotation_id) if c.copy_number == 0}


def test_the_view_names_each_consumer_and_the_superseded_key_a_laggard_keeps_in_use(client, provider_case):
    case = provider_case
    rotation = create(client, case)
    billing_id, billing = reader(client, case.project, "billing-api")
    batch_id, batch = reader(client, case.project, "nightly-batch")
    assert read(client, case, billing) == 1 and read(client, case, batch) == 1
    rotate(client, case, rotation)
    read_new(client, case, batch, 2)
    client.get(f"/api/v3/secrets/raw/{case.secret_name}?workspaceId={case.project['id']}&environment=dev")  # admin
    read_audit.flush_pending()

    response = view(client, case, rotation)

    assert response.status_code == 200, response.text
    g1 = by_generation(rotation["id"])[1]
    body = response.json()
    last_reads = {c["identityName"]: c.pop("lastReadAt") for c in body["consumers"]}
    assert set(last_reads) == {"billing-api", "nightly-batch"} and all(last_reads.values())
    assert last_reads["billing-api"] <= last_reads["nightly-batch"]
    assert body == {
        "rotationId": rotation["id"],
        "type": case.rotation_type,
        "activeGeneration": 2,
        "consumers": [  # by identity name; the admin token is no consumer
            {
                "identityId": billing_id,
                "identityName": "billing-api",
                "lastReadVersion": 1,
                "lastReadGeneration": 1,
                "ipAddress": IP,
                "migrated": False,
            },
            {
                "identityId": batch_id,
                "identityName": "nightly-batch",
                "lastReadVersion": 2,
                "lastReadGeneration": 2,
                "ipAddress": IP,
                "migrated": True,
            },
        ],
        "keys": [
            {
                "generation": 1,
                "keyId": g1.key_id,
                "state": "inactive",
                "supersededAt": iso(g1.superseded_at),
                "revokeAfter": iso(g1.revoke_not_before or g1.revoke_due_at),
                "inUse": True,
                "inUseBecause": ["billing-api last read generation 1"],
                "providerUsage": None,
                "heldUntil": None,
            }
        ],
    }

    # Once billing-api reads the new key, nobody keeps the old one in use.
    read_new(client, case, billing, 2)
    read_audit.flush_pending()
    body = view(client, case, rotation).json()
    assert [c["migrated"] for c in body["consumers"]] == [True, True]
    assert [(k["generation"], k["inUse"], k["inUseBecause"]) for k in body["keys"]] == [(1, False, [])]


def test_a_held_key_shows_its_hold_and_the_providers_last_reading_without_asking_the_provider(client, provider_case):
    case = provider_case
    rotation = create(client, case, maxHoldSeconds=3600)
    _, billing = reader(client, case.project, "billing-api")
    read(client, case, billing)
    rotate(client, case, rotation)
    rotate(client, case, rotation)  # g1 queued behind the overlap, g2 inactive, g3 published
    read_audit.flush_pending()
    creds = by_generation(rotation["id"])
    due, held, observed = utcnow() - timedelta(minutes=5), utcnow() - timedelta(minutes=4), utcnow()
    update_credential(
        creds[1].id,
        superseded_at=creds[2].published_at,
        revoke_due_at=due,
        held_since=held,
        # The stored lagging part is stale: the view works that out again now.
        hold_reason="old-service last read generation 1; provider usage rose by 0.012 in 600 s",
        usage_baseline=1.234,
        usage_baseline_at=observed,
        provider_last_used_at=None,
    )
    copy = RotationCredential(  # a second key under g2's name that was never published
        rotation_id=rotation["id"],
        connection_id=creds[2].connection_id,
        provider=creds[2].provider,
        generation=2,
        copy_number=1,
        key_name=creds[2].key_name,
        key_id="copy-of-g2",
        state="minted",
    )
    with db.unit_of_work() as session:
        session.add(copy)
    requests_before = len(case.emulator.request_log)

    body = view(client, case, rotation).json()

    assert len(case.emulator.request_log) == requests_before  # no provider call on this GET
    assert body["activeGeneration"] == 3
    keys = {(k["generation"], k["keyId"]): k for k in body["keys"]}
    assert [(k["generation"], k["state"]) for k in body["keys"]] == [(2, "inactive"), (2, "minted"), (1, "revoking")]
    assert all(set(k) == KEY_FIELDS for k in body["keys"])
    g1 = by_generation(rotation["id"])[1]
    assert keys[(1, g1.key_id)] == {
        "generation": 1,
        "keyId": g1.key_id,
        "state": "revoking",
        "supersededAt": iso(creds[2].published_at),
        "revokeAfter": iso(g1.revoke_not_before),
        "inUse": True,
        "inUseBecause": ["billing-api last read generation 1", "provider usage rose by 0.012 in 600 s"],
        "providerUsage": {"observedAt": iso(observed), "usage": 1.234, "lastUsedAt": None},
        "heldUntil": iso(due + timedelta(seconds=3600)),
    }
    # billing-api read before g2 was published: it does not hold g2 in use. Nobody was ever given the copy.
    g2 = keys[(2, creds[2].key_id)]
    assert (g2["inUse"], g2["inUseBecause"], g2["heldUntil"], g2["providerUsage"]) == (False, [], None, None)
    assert keys[(2, "copy-of-g2")]["inUse"] is False


def test_the_published_key_and_revoked_keys_are_not_listed(client, provider_case):
    case = provider_case
    rotation = create(client, case, minOverlapSeconds=0)
    for _ in range(3):
        rotate(client, case, rotation)  # each publish revokes the key from two generations back at once
    states = {g: c.state for g, c in by_generation(rotation["id"]).items()}
    assert states == {1: "revoked", 2: "revoked", 3: "inactive", 4: "active"}
    body = view(client, case, rotation).json()
    assert (body["activeGeneration"], [k["generation"] for k in body["keys"]], body["consumers"]) == (4, [3], [])


# --- permissions and look-ups: X1's ------------------------------------------------------------


@pytest.fixture
def rotation(client, project, connection) -> dict:
    response = client.post(OR, json=seed_body(project, connection, environment="prod", secretPath="/openrouter"))
    assert response.status_code == 200, response.text
    return response.json()["secretRotation"]


def _same_as_history(client, url: str, headers: dict) -> tuple[int, dict]:
    consumers, history = client.get(f"{url}/consumers", headers=headers), client.get(f"{url}/history", headers=headers)
    assert consumers.status_code == history.status_code
    if consumers.status_code != 200:
        left, right = consumers.json(), history.json()
        assert left.pop("reqId") and right.pop("reqId")
        assert left == right
    return consumers.status_code, consumers.json()


@pytest.mark.parametrize(
    "roles, scope, status",
    [
        ("viewer", None, 200),
        ("member", None, 200),
        ("admin", {"environments": ["prod"], "secretPaths": ["/openrouter/**"]}, 200),
        ("viewer", {"environments": ["dev"]}, 403),
        ("no-access", None, 403),
    ],
)
def test_callers_are_answered_as_x1_answers_them(client, project, rotation, roles, scope, status):
    _, headers = reader(client, project, "caller", roles, scope)
    code, body = _same_as_history(client, f"{OR}/{rotation['id']}", headers)
    assert code == status
    if status == 403:
        assert body["error"] == "PermissionDenied"


def test_a_non_member_an_unknown_rotation_and_the_wrong_type_are_answered_as_x1_answers_them(client, project, rotation):
    other = client.post("/api/v1/projects", json={"projectName": "other", "slug": "other-app"}).json()["project"]
    _, stranger = reader(client, other, "stranger", "admin")
    assert _same_as_history(client, f"{OR}/{rotation['id']}", stranger)[0] == 403
    missing = "00000000-0000-4000-8000-000000000000"
    code, body = _same_as_history(client, f"{OR}/{missing}", {})
    assert (code, body["message"]) == (404, f'Could not find OpenRouter API Key Rotation with ID "{missing}"')
    code, body = _same_as_history(client, f"{BASE}/arouter-api-key/{rotation['id']}", {})
    assert code == 400 and body["error"] == "BadRequest"
    assert client.get(f"{OR}/not-a-uuid/consumers").status_code == 422
