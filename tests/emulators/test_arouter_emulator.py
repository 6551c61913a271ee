"""The ARouter emulator speaks the seed contract (ARouter §1–5) and, on request, the public variant (ARouter §6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

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


# --- usage: chat completions -----------------------------------------------------------------


def _chat(arouter, key: str, model: str = "openai/gpt-4o", path: str = "/v1/chat/completions") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(arouter.base_url + path, json=body, headers={"Authorization": f"Bearer {key}"})


def test_completion_sets_last_used_at_in_the_list_even_on_a_free_model(arouter, admin):
    used, idle = (admin.post("/v1/keys", json={"name": n}).json() for n in ("used", "idle"))
    assert [k["last_used_at"] for k in admin.get("/v1/keys").json()["data"]] == [None, None]
    arouter.clock = lambda: datetime(2025, 8, 31, 23, 0, 5, tzinfo=UTC)
    response = _chat(arouter, used["key"], model="meta-llama/llama-3.3-70b-instruct:free")
    assert response.status_code == 200 and response.json()["model"].endswith(":free")
    listed = {k["id"]: k for k in admin.get("/v1/keys").json()["data"]}
    assert listed[used["id"]]["last_used_at"] == "2025-08-31T23:00:05Z"  # ARouter's seconds form
    assert listed[idle["id"]]["last_used_at"] is None
    # The seed list has no usage field (ARouter §4): last_used_at is its only usage signal.
    fields = {"id", "name", "created_at", "last_used_at", "spending_limit", "allowed_providers"}
    assert set(listed[used["id"]]) == fields


def test_variant_reports_usage_and_limit_remaining():
    with ARouterEmulator(variant="openrouter-like") as emulator:
        admin = {"Authorization": f"Bearer {emulator.create_management_key()}"}
        created = httpx.post(emulator.base_url + "/api/v1/keys", headers=admin, json={"name": "v", "limit": 1}).json()
        emulator.set_completion_cost(0.25)
        assert _chat(emulator, created["key"], path="/api/v1/chat/completions").status_code == 200
        assert _chat(emulator, created["key"], model="x:free", path="/api/v1/chat/completions").status_code == 200
        [listed] = httpx.get(emulator.base_url + "/api/v1/keys", headers=admin).json()["data"]
        assert (listed["usage"], listed["limit_remaining"]) == (0.25, 0.75)
        assert listed["last_used_at"] is not None


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"model": "openai/gpt-4o"}', b'{"messages": [{"role": "user"}], "model": ["a"]}'],
)
def test_bad_completion_request_is_a_400_and_no_use(arouter, admin, body):
    created = admin.post("/v1/keys", json={"name": "k"}).json()
    response = httpx.post(
        arouter.base_url + "/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {created['key']}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    assert admin.get("/v1/keys").json()["data"][0]["last_used_at"] is None


def test_deleted_key_completion_is_401(arouter, admin):
    created = admin.post("/v1/keys", json={"name": "k"}).json()
    admin.delete(f"/v1/keys/{created['id']}")
    response = _chat(arouter, created["key"])
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"


def test_expires_at_is_not_part_of_the_seed_contract_and_is_ignored(arouter, admin):
    created = admin.post("/v1/keys", json={"name": "k", "expires_at": "2000-01-01T00:00:00Z"})
    assert created.status_code == 201 and "expires_at" not in created.json()
    assert arouter.key_works(created.json()["key"]) and _chat(arouter, created.json()["key"]).status_code == 200
