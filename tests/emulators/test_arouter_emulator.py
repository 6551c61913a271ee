"""The ARouter emulator speaks the seed contract (ARouter §1–5) and, on request, the public variant (ARouter §6)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from emulators.arouter import ARouterEmulator


@pytest.fixture
def admin(arouter) -> Iterator[httpx.Client]:
    key = arouter.create_management_key()
    assert key.startswith("lr_admin_")
    with httpx.Client(base_url=arouter.base_url, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def test_create_list_delete_roundtrip(arouter, admin):
    created = admin.post("/v1/keys", json={"name": "app-g1", "allowed_providers": ["openai"], "spending_limit": 50})
    assert created.status_code == 201
    body = created.json()
    assert body["id"].startswith("key_") and body["key"].startswith("lr_live_")
    assert (body["name"], body["spending_limit"], body["allowed_providers"]) == ("app-g1", 50, ["openai"])
    assert arouter.create_count == 1 and arouter.key_works(body["key"])

    listed = admin.get("/v1/keys").json()
    assert [k["id"] for k in listed["data"]] == [body["id"]] and "next_page_token" not in listed
    assert body["key"] not in admin.get("/v1/keys").text
    assert set(listed["data"][0]) >= {"id", "name", "created_at", "last_used_at", "spending_limit"}

    assert admin.delete(f"/v1/keys/{body['id']}").status_code == 204
    assert admin.delete(f"/v1/keys/{body['id']}").status_code == 404
    assert not arouter.key_works(body["key"]) and arouter.live_keys() == []


def test_models_answers_live_keys_only(admin):
    key = admin.post("/v1/keys", json={"name": "k"}).json()
    as_key = {"Authorization": f"Bearer {key['key']}"}
    models = admin.get("/v1/models", headers=as_key)
    assert models.status_code == 200 and models.json()["data"][0]["id"] == "openai/gpt-4o"
    admin.delete(f"/v1/keys/{key['id']}")
    rejected = admin.get("/v1/models", headers=as_key)
    assert rejected.status_code == 401
    assert rejected.json() == {"error": {"message": "Invalid API key", "type": "authentication_error"}}


def test_regular_key_cannot_manage_keys(admin):
    key = admin.post("/v1/keys", json={"name": "k"}).json()["key"]
    response = admin.get("/v1/keys", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403 and response.json()["error"]["type"] == "permission_error"


def test_create_validation(admin):
    assert admin.post("/v1/keys", json={}).status_code == 400
    assert admin.post("/v1/keys", json={"name": "k", "spending_limit": 1, "limit": 1}).status_code == 400
    assert admin.post("/v1/keys", json={"name": "k", "allowed_providers": "openai"}).status_code == 400


def test_list_pages_with_next_page_token(arouter, admin):
    arouter.page_size = 2
    ids = [admin.post("/v1/keys", json={"name": f"k{i}"}).json()["id"] for i in range(5)]
    seen, token = [], None
    while True:
        page = admin.get("/v1/keys", params={"page_token": token} if token else None).json()
        seen += [k["id"] for k in page["data"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == list(reversed(ids))


def test_delete_status_is_configurable(arouter, admin):
    arouter.delete_status = 200
    key_id = admin.post("/v1/keys", json={"name": "k"}).json()["id"]
    response = admin.delete(f"/v1/keys/{key_id}")
    assert response.status_code == 200 and response.json()["deleted"] is True


def test_faults_are_shared_with_openrouter(arouter, admin):
    arouter.add_fault("POST", r"/v1/keys$", kind="applied_then_failed", status=500)
    response = admin.post("/v1/keys", json={"name": "ghost"})
    assert response.status_code == 500 and response.json()["error"]["type"] == "api_error"
    assert [k["name"] for k in arouter.live_keys()] == ["ghost"]
    arouter.add_fault("GET", r"/v1/keys$", kind="status", status=429, retry_after=2)
    limited = admin.get("/v1/keys")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert httpx.get(arouter.control_url + "/state").json()["create_count"] == 1


def test_openrouter_like_variant():
    with ARouterEmulator(variant="openrouter-like") as emulator:
        admin = {"Authorization": f"Bearer {emulator.create_management_key()}"}
        created = httpx.post(emulator.base_url + "/api/v1/keys", headers=admin, json={"name": "v", "limit": 5})
        assert created.status_code == 201
        body = created.json()
        assert body["data"]["hash"].startswith("key_") and body["data"]["limit"] == 5
        assert body["key"].startswith("lr_live_")
        listed = httpx.get(emulator.base_url + "/api/v1/keys", headers=admin).json()["data"]
        assert [k["hash"] for k in listed] == [body["data"]["hash"]]
        current = httpx.get(emulator.base_url + "/api/v1/key", headers={"Authorization": f"Bearer {body['key']}"})
        assert current.status_code == 200
        deleted = httpx.delete(emulator.base_url + f"/api/v1/keys/{body['data']['hash']}", headers=admin)
        assert deleted.status_code == 204
        assert httpx.get(emulator.base_url + "/v1/keys", headers=admin).status_code == 404
