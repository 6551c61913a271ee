"""Fidelity of the OpenRouter emulator, proven with the official `openrouter` SDK (1.3.x): every answer
must pass the SDK's own response validation and map to the SDK's typed errors (OpenRouter §2, OpenRouter §3,
OpenRouter §8, OpenRouter §9)."""

from __future__ import annotations

import httpx
import pytest
from openrouter import errors


def test_sdk_create_get_update_delete_roundtrip(openrouter, manager):
    created = manager.api_keys.create(name="app-key-g1", limit=5, limit_reset="monthly", include_byok_in_limit=False)
    assert created.key.startswith("sk-or-v1-") and len(created.key) == len("sk-or-v1-") + 64
    key_hash = created.data.hash
    assert len(key_hash) == 64 and key_hash == key_hash.lower()
    assert created.data.limit == 5 and created.data.limit_remaining == 5
    assert created.data.label.startswith("sk-or-v1-") and created.key not in created.data.label
    assert openrouter.create_count == 1

    fetched = manager.api_keys.get(hash=key_hash)
    assert fetched.data.name == "app-key-g1" and fetched.data.updated_at is None

    updated = manager.api_keys.update(hash=key_hash, name="renamed", disabled=True, limit=None)
    assert (updated.data.name, updated.data.disabled, updated.data.limit) == ("renamed", True, None)
    assert updated.data.updated_at is not None

    deleted = manager.api_keys.delete(hash=key_hash)
    assert deleted.DELETED is True
    assert openrouter.live_keys() == []


def test_sdk_second_delete_raises_not_found(manager):
    key_hash = manager.api_keys.create(name="k").data.hash
    manager.api_keys.delete(hash=key_hash)
    with pytest.raises(errors.NotFoundResponseError) as caught:
        manager.api_keys.delete(hash=key_hash)
    assert caught.value.data.error.code == 404
    with pytest.raises(errors.NotFoundResponseError):
        manager.api_keys.get(hash=key_hash)


def test_sdk_list_pages_beyond_100_newest_first(openrouter, manager):
    names = [f"key-{i:03d}" for i in range(105)]
    for name in names:
        manager.api_keys.create(name=name)
    first = manager.api_keys.list(offset=0).data
    second = manager.api_keys.list(offset=100).data
    assert len(first) == 100 and len(second) == 5
    assert [k.name for k in first + second] == list(reversed(names))
    assert manager.api_keys.list(offset=105).data == []


def test_sdk_list_hides_disabled_keys_unless_asked(manager):
    kept = manager.api_keys.create(name="kept").data.hash
    disabled = manager.api_keys.create(name="off").data.hash
    manager.api_keys.update(hash=disabled, disabled=True)
    assert [k.hash for k in manager.api_keys.list().data] == [kept]
    assert {k.hash for k in manager.api_keys.list(include_disabled=True).data} == {kept, disabled}


def test_sdk_current_key_works_for_new_key_and_401_after_delete(openrouter, manager, sdk_factory):
    created = manager.api_keys.create(name="fresh", limit=10)
    as_key = sdk_factory(created.key)
    current = as_key.api_keys.get_current_key_metadata().data
    assert current.is_management_key is False and current.limit == 10
    assert openrouter.key_works(created.key)

    manager.api_keys.delete(hash=created.data.hash)
    assert not openrouter.key_works(created.key)
    with pytest.raises(errors.UnauthorizedResponseError) as caught:
        as_key.api_keys.get_current_key_metadata()
    assert caught.value.data.error.code == 401


def test_sdk_management_key_describes_itself(manager):
    assert manager.api_keys.get_current_key_metadata().data.is_management_key is True


def test_sdk_regular_key_cannot_manage_keys(manager, sdk_factory):
    regular = sdk_factory(manager.api_keys.create(name="regular").key)
    with pytest.raises(errors.ForbiddenResponseError) as caught:
        regular.api_keys.create(name="nested")
    assert str(caught.value) == "Only management keys can perform this operation"
    # The SDK declares no 403 for list (OpenRouter §2), so it surfaces as its default error.
    with pytest.raises(errors.OpenRouterDefaultError) as listed:
        regular.api_keys.list()
    assert listed.value.status_code == 403


def test_sdk_unknown_key_is_unauthorized(sdk_factory):
    with pytest.raises(errors.UnauthorizedResponseError):
        sdk_factory("sk-or-v1-" + "0" * 64).api_keys.list()


def test_sdk_rate_limit_fault_raises_too_many_requests(openrouter, manager):
    openrouter.add_fault("GET", r"/keys$", kind="status", status=429, retry_after=3)
    with pytest.raises(errors.TooManyRequestsResponseError) as caught:
        manager.api_keys.list()
    headers = caught.value.headers
    assert headers["retry-after"] == "3" and headers["x-ratelimit-remaining"] == "0"
    assert manager.api_keys.list().data == []  # the fault fired once


def test_sdk_server_error_fault_raises_internal_server_error(openrouter, manager):
    openrouter.add_fault("POST", r"/keys$", kind="status", status=500)
    with pytest.raises(errors.InternalServerResponseError):
        manager.api_keys.create(name="never")
    assert openrouter.create_count == 0 and openrouter.live_keys() == []


def test_sdk_update_without_fields_is_bad_request(openrouter, manager):
    key_hash = manager.api_keys.create(name="k").data.hash
    with pytest.raises(errors.BadRequestResponseError) as caught:
        manager.api_keys.update(hash=key_hash)
    assert str(caught.value) == "No update fields provided"


def test_sdk_create_rejects_minute_precision_expiry(openrouter):
    management = openrouter.create_management_key()
    response = httpx.post(
        openrouter.base_url + "/keys",
        headers={"Authorization": f"Bearer {management}"},
        json={"name": "k", "expires_at": "2030-01-01T00:00Z"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == 400


# --- wire details the SDK does not check -----------------------------------------------------


def test_plaintext_never_in_list_or_get(openrouter):
    management = openrouter.create_management_key()
    with httpx.Client(base_url=openrouter.base_url, headers={"Authorization": f"Bearer {management}"}) as http:
        created = http.post("/keys", json={"name": "secret"}).json()
        plaintext, key_hash = created["key"], created["data"]["hash"]
        assert plaintext not in http.get("/keys").text
        assert plaintext not in http.get(f"/keys/{key_hash}").text
    assert all("key" not in k for k in openrouter.live_keys())


def test_errors_are_json_with_integer_code(openrouter):
    response = httpx.get(openrouter.base_url + "/keys")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "error": {"code": 401, "message": "Missing Authentication header", "metadata": None},
        "user_id": None,
        "openrouter_metadata": None,
    }


def test_legacy_auth_key_alias(openrouter):
    management = openrouter.create_management_key()
    response = httpx.get(openrouter.base_url + "/auth/key", headers={"Authorization": f"Bearer {management}"})
    assert response.status_code == 200 and response.json()["data"]["is_management_key"] is True


def test_chat_completions_for_live_key_only(openrouter):
    management = openrouter.create_management_key()
    created = httpx.post(
        openrouter.base_url + "/keys", headers={"Authorization": f"Bearer {management}"}, json={"name": "inference"}
    ).json()
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    ok = httpx.post(
        openrouter.base_url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {created['key']}"}
    )
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["role"] == "assistant"
    assert openrouter.live_keys()[0]["last_used_at"] is not None
    as_management = httpx.post(
        openrouter.base_url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {management}"}
    )
    assert as_management.status_code == 401
