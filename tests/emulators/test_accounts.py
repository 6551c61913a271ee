"""Both emulators keep accounts apart, as a real provider does: a management key sees and manages only the keys
of its own account, and another account's key answers 404 (issue 10 A7 needs two accounts on one emulator)."""

from __future__ import annotations

import httpx

from emulators.control import RemoteEmulator, handle_control


def _client(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"})


def test_openrouter_accounts_do_not_see_each_others_keys(openrouter):
    with (
        _client(openrouter.base_url, openrouter.create_management_key(account="a")) as a,
        _client(openrouter.base_url, openrouter.create_management_key(account="b")) as b,
    ):
        created = a.post("/keys", json={"name": "app-g1"})
        assert created.status_code == 201
        key_hash = created.json()["data"]["hash"]

        assert [k["hash"] for k in a.get("/keys").json()["data"]] == [key_hash]
        assert b.get("/keys").json()["data"] == []
        assert b.get(f"/keys/{key_hash}").status_code == 404
        assert b.patch(f"/keys/{key_hash}", json={"name": "x"}).status_code == 404
        assert b.delete(f"/keys/{key_hash}").status_code == 404
        assert openrouter.key_works(created.json()["key"])  # B's 404 did not touch A's key

        assert a.get(f"/keys/{key_hash}").status_code == 200
        assert a.delete(f"/keys/{key_hash}").status_code == 200


def test_arouter_accounts_do_not_see_each_others_keys(arouter):
    with (
        _client(arouter.base_url, arouter.create_management_key(account="a")) as a,
        _client(arouter.base_url, arouter.create_management_key(account="b")) as b,
    ):
        created = a.post("/v1/keys", json={"name": "app-g1"})
        assert created.status_code == 201
        key_id = created.json()["id"]

        assert [k["id"] for k in a.get("/v1/keys").json()["data"]] == [key_id]
        assert b.get("/v1/keys").json()["data"] == []
        assert b.delete(f"/v1/keys/{key_id}").status_code == 404
        assert arouter.key_works(created.json()["key"])
        assert a.delete(f"/v1/keys/{key_id}").status_code == 204


def test_live_keys_spans_every_account(openrouter, arouter):
    """The test-side view of what is live ignores accounts, so an orphan in any account is seen."""
    for emulator, path in ((openrouter, "/keys"), (arouter, "/v1/keys")):
        for account in ("a", "b"):
            with _client(emulator.base_url, emulator.create_management_key(account=account)) as manager:
                assert manager.post(path, json={"name": f"key-{account}"}).status_code == 201
        assert {k["name"] for k in emulator.live_keys()} == {"key-a", "key-b"}


def test_control_api_names_the_account(openrouter):
    status, body = handle_control(openrouter, "POST", "management-keys", {"name": "m", "account": "b"})
    assert status == 201
    with _client(openrouter.base_url, body["key"]) as b:
        assert b.post("/keys", json={"name": "in-b"}).status_code == 201
    with _client(openrouter.base_url, openrouter.create_management_key()) as default:
        assert default.get("/keys").json()["data"] == []
    assert RemoteEmulator(openrouter.control_url).create_management_key(account="c").startswith("sk-or-v1-")
