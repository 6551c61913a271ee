"""The ARouter client against the ARouter emulator: each call's success, its failure mapping, ambiguity
on create, pagination, Retry-After, the public OpenRouter-like variant and lenient parsing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.providers.arouter import (
    ARouterProvider,
    _list_items,
    _minted_fields,
    _next_token,
    _status_error,
    openrouter_like,
    provider,
)
from app.providers.base import ProviderError
from emulators.arouter import ARouterEmulator


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=1.0) as client:
        yield client


@pytest.fixture
def creds(arouter) -> dict:
    return {"apiKey": arouter.create_management_key()}


def mint(http, arouter, creds, name="app-g1", **parameters):
    return provider.mint(http, arouter.base_url, creds, name=name, parameters=parameters)


def assert_no_secret(error: ProviderError, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(error) and secret not in error.message


# --- the happy path --------------------------------------------------------------------------


def test_mint_verify_list_revoke(http, arouter, creds):
    provider.validate_connection(http, arouter.base_url, creds)
    minted = mint(http, arouter, creds, name="app-g1", allowedProviders=["openai"], spendingLimit=50)
    assert minted.key_id.startswith("key_") and minted.api_key.startswith("lr_live_")
    assert minted.api_key not in repr(minted)
    [live] = arouter.live_keys()
    assert (live["name"], live["spending_limit"], live["allowed_providers"]) == ("app-g1", 50, ["openai"])

    provider.verify(http, arouter.base_url, minted.api_key)
    [listed] = provider.list_keys(http, arouter.base_url, creds)
    assert (listed.key_id, listed.name, listed.disabled) == (minted.key_id, "app-g1", False)
    assert listed.created_at is not None and listed.created_at.tzinfo is not None

    provider.revoke(http, arouter.base_url, creds, minted.key_id)
    assert arouter.live_keys() == [] and not arouter.key_works(minted.api_key)


def test_mint_sends_only_what_is_set():
    assert provider.create_body("n", {}) == {"name": "n"}
    assert provider.create_body("n", {"allowedProviders": None, "spendingLimit": None}) == {"name": "n"}
    assert provider.create_body("n", {"allowedProviders": ["a"], "spendingLimit": 5}) == {
        "name": "n",
        "allowed_providers": ["a"],
        "spending_limit": 5,
    }
    assert openrouter_like.create_body("n", {"spendingLimit": 5}) == {"name": "n", "limit": 5}


def test_mint_without_optional_parameters_leaves_them_unset(http, arouter, creds):
    mint(http, arouter, creds)
    [live] = arouter.live_keys()
    assert live["spending_limit"] is None and live["allowed_providers"] is None


def test_list_follows_next_page_token(http, arouter, creds):
    arouter.page_size = 2
    minted = {mint(http, arouter, creds, name=f"k{i}").key_id for i in range(5)}
    listed = provider.list_keys(http, arouter.base_url, creds)
    assert {k.key_id for k in listed} == minted and len(listed) == 5


@pytest.mark.parametrize("status", [200, 202, 204])
def test_revoke_accepts_any_documented_success(http, arouter, creds, status):
    arouter.delete_status = status
    minted = mint(http, arouter, creds)
    provider.revoke(http, arouter.base_url, creds, minted.key_id)
    assert arouter.live_keys() == []


def test_revoke_404_is_no_error_and_says_the_key_was_unknown(http, arouter, creds):
    """Whether that 404 proves the key gone depends on whose credentials asked: the caller decides (issue 10 A7)."""
    minted = mint(http, arouter, creds)
    assert provider.revoke(http, arouter.base_url, creds, minted.key_id) is True
    assert provider.revoke(http, arouter.base_url, creds, minted.key_id) is False
    assert provider.revoke(http, arouter.base_url, creds, "key_never_existed") is False


def test_base_url_with_version_suffix_is_tolerated(http, arouter, creds):
    minted = provider.mint(http, arouter.base_url + "/v1/", creds, name="k", parameters={})
    provider.verify(http, arouter.base_url + "/v1", minted.api_key)
    assert ARouterProvider().url("https://api.arouter.ai/", "/v1/keys") == "https://api.arouter.ai/v1/keys"


# --- failures: retryable, ambiguous, never a key in a message --------------------------------


def test_mint_5xx_after_create_is_ambiguous_and_the_key_exists(http, arouter, creds):
    arouter.add_fault("POST", r"/v1/keys$", kind="applied_then_failed", status=500)
    with pytest.raises(ProviderError) as caught:
        mint(http, arouter, creds, name="ghost-g1")
    error = caught.value
    assert (error.status, error.retryable, error.ambiguous) == (500, True, True)
    # Reconciliation finds it by its unique name.
    assert [k.name for k in provider.list_keys(http, arouter.base_url, creds)] == ["ghost-g1"]
    assert_no_secret(error, creds["apiKey"])


def test_mint_dropped_connection_after_create_is_ambiguous(http, arouter, creds):
    arouter.add_fault("POST", r"/v1/keys$", kind="applied_then_drop")
    with pytest.raises(ProviderError) as caught:
        mint(http, arouter, creds)
    assert caught.value.retryable and caught.value.ambiguous and caught.value.status is None
    assert arouter.create_count == 1


def test_mint_timeout_is_ambiguous(arouter, creds):
    arouter.add_fault("POST", r"/v1/keys$", kind="latency", delay=0.4)
    with httpx.Client(timeout=0.1) as quick, pytest.raises(ProviderError) as caught:
        mint(quick, arouter, creds)
    assert caught.value.retryable and caught.value.ambiguous and "timed out" in caught.value.message


def test_mint_when_provider_is_down_is_not_ambiguous(http, creds):
    down = ARouterEmulator().start()
    base_url = down.base_url
    down.stop()
    with pytest.raises(ProviderError) as caught:
        provider.mint(http, base_url, creds, name="k", parameters={})
    assert caught.value.retryable and not caught.value.ambiguous


def test_mint_429_is_retryable_with_retry_after_and_not_ambiguous(http, arouter, creds):
    arouter.add_fault("POST", r"/v1/keys$", kind="status", status=429, retry_after=2)
    with pytest.raises(ProviderError) as caught:
        mint(http, arouter, creds)
    error = caught.value
    assert (error.status, error.retryable, error.ambiguous, error.retry_after) == (429, True, False, 2.0)
    assert arouter.create_count == 0


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_not_retryable(http, arouter, creds, status):
    arouter.add_fault("POST", r"/v1/keys$", kind="status", status=status)
    with pytest.raises(ProviderError) as caught:
        mint(http, arouter, creds)
    assert (caught.value.status, caught.value.retryable, caught.value.ambiguous) == (status, False, False)


def test_bad_admin_key_fails_validation_without_echoing_it(http, arouter):
    bad = {"apiKey": "lr_admin_" + "f" * 48}
    with pytest.raises(ProviderError) as caught:
        provider.validate_connection(http, arouter.base_url, bad)
    assert caught.value.status == 401 and not caught.value.retryable
    assert_no_secret(caught.value, bad["apiKey"])


def test_regular_key_cannot_validate_a_connection(http, arouter, creds):
    regular = mint(http, arouter, creds).api_key
    with pytest.raises(ProviderError) as caught:
        provider.validate_connection(http, arouter.base_url, {"apiKey": regular})
    assert caught.value.status == 403
    assert_no_secret(caught.value, regular)


def test_missing_credentials_are_an_error(http, arouter):
    with pytest.raises(ProviderError):
        provider.list_keys(http, arouter.base_url, {})


def test_verify_rejects_a_revoked_key(http, arouter, creds):
    minted = mint(http, arouter, creds)
    provider.revoke(http, arouter.base_url, creds, minted.key_id)
    with pytest.raises(ProviderError) as caught:
        provider.verify(http, arouter.base_url, minted.api_key)
    assert caught.value.status == 401 and not caught.value.retryable
    assert_no_secret(caught.value, minted.api_key)


def test_verify_5xx_is_retryable(http, arouter, creds):
    minted = mint(http, arouter, creds)
    arouter.add_fault("GET", r"/v1/models$", kind="status", status=502)
    with pytest.raises(ProviderError) as caught:
        provider.verify(http, arouter.base_url, minted.api_key)
    assert caught.value.retryable and not caught.value.ambiguous


def test_revoke_5xx_is_retryable(http, arouter, creds):
    minted = mint(http, arouter, creds)
    arouter.add_fault("DELETE", r"/v1/keys/", kind="status", status=503)
    with pytest.raises(ProviderError) as caught:
        provider.revoke(http, arouter.base_url, creds, minted.key_id)
    assert caught.value.retryable and not caught.value.ambiguous
    provider.revoke(http, arouter.base_url, creds, minted.key_id)  # the retry succeeds


def test_list_rate_limited_mid_scan_is_retryable(http, arouter, creds):
    arouter.page_size = 1
    mint(http, arouter, creds, name="a")
    mint(http, arouter, creds, name="b")
    arouter.add_fault("GET", r"/v1/keys$", kind="status", status=429, retry_after=1)
    with pytest.raises(ProviderError) as caught:
        provider.list_keys(http, arouter.base_url, creds)
    assert caught.value.retryable and caught.value.retry_after == 1.0


# --- the OpenRouter-like variant and lenient parsing (ARouter §6) -------------------------------


def test_openrouter_like_variant_end_to_end(http):
    with ARouterEmulator(variant="openrouter-like") as emulator:
        creds = {"apiKey": emulator.create_management_key()}
        openrouter_like.validate_connection(http, emulator.base_url, creds)
        minted = openrouter_like.mint(http, emulator.base_url, creds, name="v-g1", parameters={"spendingLimit": 7})
        assert emulator.live_keys()[0]["limit"] == 7
        openrouter_like.verify(http, emulator.base_url, minted.api_key)
        assert [k.key_id for k in openrouter_like.list_keys(http, emulator.base_url, creds)] == [minted.key_id]
        openrouter_like.revoke(http, emulator.base_url, creds, minted.key_id)
        assert emulator.live_keys() == []


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"id": "key_1", "key": "lr_live_x"}, ("key_1", "lr_live_x")),
        ({"data": {"hash": "h1"}, "key": "lr_live_x"}, ("h1", "lr_live_x")),
        ({"data": {"id": "key_2"}, "key": "lr_live_x"}, ("key_2", "lr_live_x")),
        ({"hash": "h3", "raw_key": "lr_live_y", "name": "n"}, ("h3", "lr_live_y")),
        ({"id": "key_4"}, ("key_4", None)),
        (["not", "an", "object"], (None, None)),
    ],
)
def test_create_response_shapes(payload, expected):
    assert _minted_fields(payload) == expected


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"data": [{"id": "a"}]}, [{"id": "a"}]),
        ({"keys": [{"hash": "b"}]}, [{"hash": "b"}]),
        ([{"id": "c"}], [{"id": "c"}]),
        ({"items": []}, None),
    ],
)
def test_list_response_shapes(payload, expected):
    assert _list_items(payload) == expected


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"data": [], "next_page_token": "t1"}, "t1"),
        ({"data": [], "pagination": {"nextPageToken": "t2"}}, "t2"),
        ({"data": [], "next_page_token": None}, None),
        ({"data": [], "next_page_token": ""}, None),
        ([], None),
    ],
)
def test_next_page_token_shapes(payload, expected):
    assert _next_token(payload) == expected


def _response(status: int, body, headers=None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_quota_exceeded_429_is_not_retryable():
    error = _status_error("x", _response(429, {"error": {"message": "Quota exhausted", "code": "quota_exceeded"}}))
    assert not error.retryable and error.status == 429
    assert _status_error("x", _response(429, {"code": 429, "message": "slow down"})).retryable


def test_error_messages_are_parsed_leniently_and_redacted():
    leaky = {"error": {"message": "bad key lr_live_abcdef123456 for Bearer lr_admin_zzz", "type": "x"}}
    message = _status_error("Failed", _response(401, leaky)).message
    assert "lr_live_abcdef123456" not in message and "lr_admin_zzz" not in message
    assert _status_error("Failed", _response(400, {"message": "flat shape"})).message == "Failed: flat shape"
    assert _status_error("Failed", _response(500, "oops")).message == "Failed: HTTP 500"
