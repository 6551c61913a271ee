"""The `revocation` block of a rotation (rotation §14k): server defaults on create, merging on update, 422 for
unknown keys and out-of-range values, the key-lifetime rule, and the block in every rotation object."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from tests.factories import ADMIN_TOKEN, BASE, OR, ROOT_KEY, SPECS, insert_rotation, seed_body

AR = f"{BASE}/arouter-api-key"
DAY = 86400

# The tests' server (tests/conftest.py): every KEYTURN_REVOCATION_* at its default but the overlap, set to 0, and
# holds, turned off.
DEFAULTS = {
    "mode": "scheduled",
    "minOverlapSeconds": 0,
    "holdWhileInUse": False,
    "quietSeconds": 600,
    "maxHoldSeconds": 86400,
    "keyLifetimeSeconds": None,
}
# The seed body's interval (30 days) with the default maxHoldSeconds: 2 x 30 days + 1 day + 1 day.
MIN_LIFETIME_30_DAYS = 2 * 30 * DAY + DAY + DAY


def issues(response) -> list[tuple[tuple, str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationFailure" and body["statusCode"] == 422 and body["reqId"]
    return [(tuple(i["path"]), i["code"], i["message"]) for i in body["message"]]


def create(client, case, **overrides):
    """R6 for the case's rotation type, from the seed request with the type's parameters and secret name."""
    body = seed_body(case.project, case.connection, parameters=case.parameters, **overrides)
    body["secretsMapping"] = {"apiKey": case.secret_name}
    return client.post(f"{BASE}/{case.rotation_type}", json=body)


def created(client, case, **overrides) -> dict:
    response = create(client, case, **overrides)
    assert response.status_code == 200, response.text
    return response.json()["secretRotation"]


def patch(client, rotation: dict, body: dict):
    return client.patch(f"{BASE}/{rotation['type']}/{rotation['id']}", json=body)


def policy(client, rotation: dict) -> dict:
    response = client.get(f"{BASE}/{rotation['type']}/{rotation['id']}")
    assert response.status_code == 200, response.text
    return response.json()["secretRotation"]["revocation"]


# --- create -------------------------------------------------------------------------------------


def test_a_rotation_created_without_a_block_gets_the_server_defaults(client, provider_case):
    rotation = created(client, provider_case)
    assert rotation["revocation"] == DEFAULTS
    assert policy(client, rotation) == DEFAULTS


def test_a_partial_block_takes_the_server_defaults_for_the_rest(client, provider_case):
    rotation = created(client, provider_case, revocation={"mode": "when-unused", "quietSeconds": 30})
    assert rotation["revocation"] == {**DEFAULTS, "mode": "when-unused", "quietSeconds": 30}


def test_a_whole_block_is_kept_as_sent_and_wins_over_the_server_down_to_zero(client, provider_case, settings):
    settings.revocation_min_overlap_seconds = 300  # a default, not a floor
    block = {
        "mode": "when-unused",
        "minOverlapSeconds": 0,
        "holdWhileInUse": False,
        "quietSeconds": 1,
        "maxHoldSeconds": 0,
        "keyLifetimeSeconds": None,
    }
    assert created(client, provider_case, revocation=block)["revocation"] == block


def test_a_server_setting_changes_the_default_for_new_rotations_only(client, provider_case, settings):
    before = created(client, provider_case, name="before")
    settings.revocation_mode = "when-unused"
    settings.revocation_min_overlap_seconds = 45
    settings.revocation_hold_while_in_use = False
    settings.revocation_quiet_seconds = 60
    settings.revocation_max_hold_seconds = 120
    after = created(client, provider_case, name="after", secretPath="/after")
    assert after["revocation"] == {
        "mode": "when-unused",
        "minOverlapSeconds": 45,
        "holdWhileInUse": False,
        "quietSeconds": 60,
        "maxHoldSeconds": 120,
        "keyLifetimeSeconds": None,
    }
    assert policy(client, before) == DEFAULTS


def test_the_server_lifetime_default_reaches_only_types_whose_keys_can_expire(client, provider_case, settings):
    settings.revocation_key_lifetime_seconds = MIN_LIFETIME_30_DAYS
    lifetime = created(client, provider_case)["revocation"]["keyLifetimeSeconds"]
    assert lifetime == (MIN_LIFETIME_30_DAYS if provider_case.app == "open-router" else None)


def test_a_server_lifetime_default_too_short_for_the_rotation_says_so(
    client, connection, project, openrouter, settings
):
    settings.revocation_key_lifetime_seconds = MIN_LIFETIME_30_DAYS - 1
    [(path, code, message)] = issues(client.post(OR, json=seed_body(project, connection)))
    assert path == ("revocation", "keyLifetimeSeconds") and code == "too_small"
    assert f"at least {MIN_LIFETIME_30_DAYS}" in message and "KEYTURN_REVOCATION_KEY_LIFETIME_SECONDS" in message
    assert openrouter.create_count == 0
    body = seed_body(project, connection, revocation={"keyLifetimeSeconds": None})  # the caller may opt out
    assert client.post(OR, json=body).json()["secretRotation"]["revocation"]["keyLifetimeSeconds"] is None


# --- update -------------------------------------------------------------------------------------


def test_patch_merges_the_given_fields_into_the_stored_block(client, provider_case):
    rotation = created(client, provider_case, revocation={"quietSeconds": 30})
    response = patch(client, rotation, {"revocation": {"maxHoldSeconds": 100}})
    assert response.status_code == 200, response.text
    expected = {**DEFAULTS, "quietSeconds": 30, "maxHoldSeconds": 100}
    assert response.json()["secretRotation"]["revocation"] == expected
    assert patch(client, rotation, {"revocation": {"mode": "when-unused", "holdWhileInUse": False}}).status_code == 200
    assert policy(client, rotation) == {**expected, "mode": "when-unused", "holdWhileInUse": False}
    assert patch(client, rotation, {"description": "no block"}).status_code == 200
    assert patch(client, rotation, {"revocation": {}}).status_code == 200
    assert policy(client, rotation) == {**expected, "mode": "when-unused", "holdWhileInUse": False}


def test_the_server_settings_do_not_touch_a_stored_block_on_patch(client, provider_case, settings):
    rotation = created(client, provider_case)
    settings.revocation_quiet_seconds = 5
    assert patch(client, rotation, {"revocation": {"maxHoldSeconds": 7}}).status_code == 200
    assert policy(client, rotation) == {**DEFAULTS, "maxHoldSeconds": 7}


# --- refusals -----------------------------------------------------------------------------------

ENUM = "'scheduled' | 'when-unused'"
OUT_OF_RANGE = [
    ("mode", "later", "invalid_enum_value", f"Invalid enum value. Expected {ENUM}, received 'later'"),
    ("mode", None, "invalid_type", f"Expected {ENUM}, received null"),
    ("minOverlapSeconds", -1, "too_small", "Number must be greater than or equal to 0"),
    ("minOverlapSeconds", 7 * DAY + 1, "too_big", "Number must be less than or equal to 604800"),
    ("minOverlapSeconds", 1.5, "invalid_type", "Expected integer, received float"),
    ("minOverlapSeconds", "300", "invalid_type", "Expected number, received string"),
    ("minOverlapSeconds", True, "invalid_type", "Expected number, received boolean"),
    ("minOverlapSeconds", None, "invalid_type", "Expected number, received null"),
    ("holdWhileInUse", "yes", "bool_type", None),
    ("holdWhileInUse", None, "bool_type", None),
    ("quietSeconds", 0, "too_small", "Number must be greater than or equal to 1"),
    ("quietSeconds", DAY + 1, "too_big", "Number must be less than or equal to 86400"),
    ("maxHoldSeconds", -1, "too_small", "Number must be greater than or equal to 0"),
    ("maxHoldSeconds", 30 * DAY + 1, "too_big", "Number must be less than or equal to 2592000"),
    ("keyLifetimeSeconds", 0, "too_small", "Number must be greater than or equal to 1"),
    ("keyLifetimeSeconds", 3650 * DAY + 1, "too_big", "Number must be less than or equal to 315360000"),
    ("keyLifetimeSeconds", 2**63, "too_big", "Number must be less than or equal to 315360000"),
]


@pytest.mark.parametrize("field, value, code, message", OUT_OF_RANGE)
def test_an_out_of_range_field_is_422_on_create_before_any_mint(
    client, project, connection, openrouter, field, value, code, message
):
    found = issues(client.post(OR, json=seed_body(project, connection, revocation={field: value})))
    assert [(path, c) for path, c, _ in found] == [(("revocation", field), code)]
    if message is not None:
        assert found[0][2] == message
    assert openrouter.create_count == 0


@pytest.mark.parametrize("field, value, code, message", OUT_OF_RANGE)
def test_an_out_of_range_field_is_422_on_patch_and_changes_nothing(
    client, project, connection, field, value, code, message
):
    rotation_id = insert_rotation(project, connection, failure=None)
    before = client.get(f"{OR}/{rotation_id}").json()["secretRotation"]
    found = issues(client.patch(f"{OR}/{rotation_id}", json={"revocation": {field: value}}))
    assert [(path, c) for path, c, _ in found] == [(("revocation", field), code)]
    assert client.get(f"{OR}/{rotation_id}").json()["secretRotation"] == before


@pytest.mark.parametrize("method", ["post", "patch"])
def test_an_unknown_key_in_the_block_is_422_not_dropped(client, project, connection, openrouter, method):
    block = {"mode": "when-unused", "maxHoldSecs": 5, "extra": 1}
    if method == "post":
        response = client.post(OR, json=seed_body(project, connection, revocation=block))
    else:
        rotation_id = insert_rotation(project, connection, failure=None)
        response = client.patch(f"{OR}/{rotation_id}", json={"revocation": block})
    [(path, code, message)] = issues(response)
    assert path == ("revocation",) and code == "unrecognized_keys"
    assert message == "Unrecognized key(s) in object: 'maxHoldSecs', 'extra'"
    assert openrouter.create_count == 0


@pytest.mark.parametrize("block", [None, [], "scheduled", 5])
def test_a_block_that_is_not_an_object_is_422(client, project, connection, block):
    assert issues(client.post(OR, json=seed_body(project, connection, revocation=block)))[0][0] == ("revocation",)
    rotation_id = insert_rotation(project, connection, failure=None)
    assert issues(client.patch(f"{OR}/{rotation_id}", json={"revocation": block}))[0][0] == ("revocation",)


def test_snake_case_names_are_accepted_as_the_other_bodies_accept_them(client, project, connection, openrouter):
    body = seed_body(project, connection, revocation={"max_hold_seconds": 5})
    assert client.post(OR, json=body).json()["secretRotation"]["revocation"]["maxHoldSeconds"] == 5


# --- the key-lifetime rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit, minimum", [("days", MIN_LIFETIME_30_DAYS), ("seconds", 2 * 30 + DAY + DAY)], ids=["days", "seconds"]
)
def test_the_lifetime_must_cover_two_intervals_the_longest_hold_and_a_day(
    client, project, connection, openrouter, settings, unit, minimum
):
    settings.rotation_interval_unit = unit
    short = seed_body(project, connection, revocation={"keyLifetimeSeconds": minimum - 1})
    [(path, code, message)] = issues(client.post(OR, json=short))
    assert path == ("revocation", "keyLifetimeSeconds") and code == "too_small"
    assert f"at least {minimum} " in message and "KEYTURN_" not in message
    assert openrouter.create_count == 0
    exact = seed_body(project, connection, revocation={"keyLifetimeSeconds": minimum})
    response = client.post(OR, json=exact)
    assert response.status_code == 200, response.text
    assert response.json()["secretRotation"]["revocation"]["keyLifetimeSeconds"] == minimum


def test_the_lifetime_minimum_follows_the_blocks_own_max_hold(client, project, connection, openrouter):
    block = {"maxHoldSeconds": 0, "keyLifetimeSeconds": 2 * 30 * DAY + DAY}
    response = client.post(OR, json=seed_body(project, connection, revocation=block))
    assert response.status_code == 200, response.text
    block = {"maxHoldSeconds": 1, "keyLifetimeSeconds": 2 * 30 * DAY + DAY}
    body = seed_body(project, connection, name="other", secretPath="/other", revocation=block)
    assert f"at least {2 * 30 * DAY + DAY + 1} " in issues(client.post(OR, json=body))[0][2]


def test_the_lifetime_is_checked_again_when_a_patch_changes_what_it_depends_on(client, project, connection, openrouter):
    rotation = created_or(client, project, connection, revocation={"keyLifetimeSeconds": MIN_LIFETIME_30_DAYS})

    [(path, _, message)] = issues(patch(client, rotation, {"rotationInterval": 31}))
    assert path == ("revocation", "keyLifetimeSeconds") and f"at least {MIN_LIFETIME_30_DAYS + 2 * DAY} " in message
    [(path, _, message)] = issues(patch(client, rotation, {"revocation": {"maxHoldSeconds": DAY + 1}}))
    assert path == ("revocation", "keyLifetimeSeconds") and f"at least {MIN_LIFETIME_30_DAYS + 1} " in message
    [(path, _, _)] = issues(patch(client, rotation, {"revocation": {"keyLifetimeSeconds": MIN_LIFETIME_30_DAYS - 1}}))
    assert path == ("revocation", "keyLifetimeSeconds")
    stored = client.get(f"{OR}/{rotation['id']}").json()["secretRotation"]
    assert stored["rotationInterval"] == 30 and stored["revocation"] == rotation["revocation"]  # nothing changed

    response = patch(client, rotation, {"rotationInterval": 31, "revocation": {"keyLifetimeSeconds": None}})
    assert response.status_code == 200, response.text
    assert response.json()["secretRotation"]["revocation"]["keyLifetimeSeconds"] is None
    assert patch(client, rotation, {"rotationInterval": 29}).status_code == 200  # nothing left to check


def test_a_shorter_interval_or_hold_keeps_a_valid_lifetime(client, project, connection, openrouter):
    rotation = created_or(client, project, connection, revocation={"keyLifetimeSeconds": MIN_LIFETIME_30_DAYS})
    assert patch(client, rotation, {"rotationInterval": 29, "revocation": {"maxHoldSeconds": 0}}).status_code == 200
    assert policy(client, rotation)["keyLifetimeSeconds"] == MIN_LIFETIME_30_DAYS


def test_a_type_whose_keys_cannot_expire_refuses_a_lifetime(client, project, arouter, settings):
    case_connection = _arouter_connection(client, project, arouter)
    body = seed_body(
        project,
        case_connection,
        parameters=SPECS["arouter"].parameters,
        secretsMapping={"apiKey": "AROUTER_API_KEY"},
        revocation={"keyLifetimeSeconds": 10 * 365 * DAY},
    )
    [(path, _, message)] = issues(client.post(AR, json=body))
    assert path == ("revocation", "keyLifetimeSeconds") and "cannot expire" in message
    assert arouter.create_count == 0

    body["revocation"] = {"keyLifetimeSeconds": None}
    rotation = client.post(AR, json=body).json()["secretRotation"]
    assert rotation["revocation"]["keyLifetimeSeconds"] is None
    [(path, _, _)] = issues(patch(client, rotation, {"revocation": {"keyLifetimeSeconds": 10 * 365 * DAY}}))
    assert path == ("revocation", "keyLifetimeSeconds")
    assert patch(client, rotation, {"revocation": {"keyLifetimeSeconds": None}}).status_code == 200


def created_or(client, project, connection, **overrides) -> dict:
    response = client.post(OR, json=seed_body(project, connection, **overrides))
    assert response.status_code == 200, response.text
    return response.json()["secretRotation"]


def _arouter_connection(client, project, arouter) -> dict:
    response = client.post(
        "/api/v1/app-connections/arouter",
        json={
            "name": "my-arouter-connection",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": arouter.create_management_key()},
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["appConnection"]


# --- the block in every rotation object ---------------------------------------------------------


def test_every_rotation_object_carries_the_block(client, provider_case):
    block = {**DEFAULTS, "mode": "when-unused", "maxHoldSeconds": 40}
    rotation = created(client, provider_case, revocation={"mode": "when-unused", "maxHoldSeconds": 40})
    typed = f"{BASE}/{rotation['type']}"
    project_id = provider_case.project["id"]
    objects = {
        "R2 list": client.get(f"{BASE}?projectId={project_id}").json()["secretRotations"][0],
        "R3 list": client.get(f"{typed}?projectId={project_id}").json()["secretRotations"][0],
        "R4 get": client.get(f"{typed}/{rotation['id']}").json()["secretRotation"],
        "R5 by name": client.get(
            f"{typed}/rotation-name/{rotation['name']}",
            params={"projectId": project_id, "environment": "dev", "secretPath": "/"},
        ).json()["secretRotation"],
        "R7 update": patch(client, rotation, {"description": "x"}).json()["secretRotation"],
        "R10 rotate": client.post(f"{typed}/{rotation['id']}/rotate-secrets").json()["secretRotation"],
        "R8 delete": client.delete(f"{typed}/{rotation['id']}").json()["secretRotation"],
    }
    assert {name: obj["revocation"] for name, obj in objects.items()} == {name: block for name in objects}


# --- the settings -------------------------------------------------------------------------------


def test_the_defaults_are_read_from_the_environment(monkeypatch):
    base = {"root_key": ROOT_KEY, "admin_token": ADMIN_TOKEN}
    defaults = Settings(**base)
    assert (
        defaults.revocation_mode,
        defaults.revocation_min_overlap_seconds,
        defaults.revocation_hold_while_in_use,
        defaults.revocation_quiet_seconds,
        defaults.revocation_max_hold_seconds,
        defaults.revocation_key_lifetime_seconds,
    ) == ("scheduled", 300, True, 600, 86400, None)
    for name, value in {
        "MODE": "when-unused",
        "MIN_OVERLAP_SECONDS": "0",
        "HOLD_WHILE_IN_USE": "false",
        "QUIET_SECONDS": "6",
        "MAX_HOLD_SECONDS": "40",
        "KEY_LIFETIME_SECONDS": "200000",
    }.items():
        monkeypatch.setenv(f"KEYTURN_REVOCATION_{name}", value)
    configured = Settings(**base)
    assert (
        configured.revocation_mode,
        configured.revocation_min_overlap_seconds,
        configured.revocation_hold_while_in_use,
        configured.revocation_quiet_seconds,
        configured.revocation_max_hold_seconds,
        configured.revocation_key_lifetime_seconds,
    ) == ("when-unused", 0, False, 6, 40, 200000)


@pytest.mark.parametrize(
    "name, value",
    [
        ("MODE", "later"),
        ("MIN_OVERLAP_SECONDS", "-1"),
        ("MIN_OVERLAP_SECONDS", "604801"),
        ("QUIET_SECONDS", "0"),
        ("QUIET_SECONDS", "86401"),
        ("MAX_HOLD_SECONDS", "2592001"),
        ("KEY_LIFETIME_SECONDS", "0"),
        ("KEY_LIFETIME_SECONDS", "315360001"),
    ],
)
def test_a_default_the_api_would_refuse_stops_the_server(monkeypatch, name, value):
    monkeypatch.setenv(f"KEYTURN_REVOCATION_{name}", value)
    with pytest.raises(ValidationError):
        Settings(root_key=ROOT_KEY, admin_token=ADMIN_TOKEN)
