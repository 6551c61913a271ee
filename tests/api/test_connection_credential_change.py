"""C8 (update) when keys minted under the connection are live (issue 10 A7): the API's contract for a refused
credential change. The engine side, on both providers, is in tests/rotation/test_account_change.py."""

from __future__ import annotations

from tests.factories import post_rotation

BASE = "/api/v1/app-connections/open-router"


def test_a_refused_change_is_infisicals_400_and_leaves_the_connection_as_it_was(
    client, openrouter, project, connection
):
    post_rotation(client, project, connection)
    other_account = openrouter.create_management_key(account="b")

    response = client.patch(
        f"{BASE}/{connection['id']}",
        json={"name": "renamed", "description": "new", "credentials": {"apiKey": other_account}},
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"reqId", "statusCode", "message", "error"} and body["statusCode"] == 400
    assert body["reqId"] != "-"
    assert body["message"].startswith(f"Cannot change the credentials of App Connection with ID {connection['id']}")
    assert other_account not in response.text
    # Nothing half-written: not the name, not the description, not the key, not the version.
    assert client.get(f"{BASE}/{connection['id']}").json()["appConnection"] == connection


def test_name_and_description_alone_need_no_check(client, openrouter, project, connection):
    post_rotation(client, project, connection)
    openrouter.add_fault("GET", r"/keys/", kind="status", status=503, times=None)
    response = client.patch(f"{BASE}/{connection['id']}", json={"name": "renamed"})
    assert response.status_code == 200 and response.json()["appConnection"]["name"] == "renamed"


def test_a_connection_with_no_live_keys_may_point_anywhere(client, openrouter, connection):
    response = client.patch(
        f"{BASE}/{connection['id']}", json={"credentials": {"apiKey": openrouter.create_management_key(account="b")}}
    )
    assert response.status_code == 200, response.text
