"""The OpenRouter client against the emulator: each call's success, its failure mapping, ambiguity on
create, pagination and Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from app.providers.base import ProviderError
from app.providers.openrouter import create_body, provider
from app.providers.wire import retry_after_seconds
from tests.factories import CannedServer


@pytest.fixture
def http():
    with httpx.Client(timeout=2.0) as client:
        yield client


@pytest.fixture
def creds(openrouter) -> dict:
    return {"apiKey": openrouter.create_management_key()}


def _mint(http, openrouter, creds, name="app-key-20250101-g1-abcd1234", **parameters):
    return provider.mint(http, openrouter.base_url, creds, name=name, parameters=parameters)


# --- validate_connection ---------------------------------------------------------------------


def test_validate_accepts_a_management_key(http, openrouter, creds):
    provider.validate_connection(http, openrouter.base_url, creds)


def test_validate_rejects_an_unknown_key(http, openrouter):
    with pytest.raises(ProviderError) as caught:
        provider.validate_connection(http, openrouter.base_url, {"apiKey": "sk-or-v1-" + "0" * 64})
    assert caught.value.status == 401 and not caught.value.retryable
    assert "sk-or-v1-" not in caught.value.message


def test_validate_rejects_a_non_management_key(http, openrouter, creds):
    minted = _mint(http, openrouter, creds)
    with pytest.raises(ProviderError) as caught:
        provider.validate_connection(http, openrouter.base_url, {"apiKey": minted.api_key})
    assert caught.value.status == 403
    assert minted.api_key not in caught.value.message


def test_validate_5xx_is_retryable(http, openrouter, creds):
    openrouter.add_fault("GET", r"/keys$", kind="status", status=503)
    with pytest.raises(ProviderError) as caught:
        provider.validate_connection(http, openrouter.base_url, creds)
    assert caught.value.status == 503 and caught.value.retryable and not caught.value.ambiguous


def test_validate_non_json_200_fails(http):
    with CannedServer(200) as server, pytest.raises(ProviderError):
        provider.validate_connection(http, server.base_url, {"apiKey": "sk-or-v1-abc"})


# --- mint ------------------------------------------------------------------------------------


def test_mint_returns_a_working_key_and_its_hash(http, openrouter, creds):
    minted = _mint(http, openrouter, creds)
    assert minted.api_key.startswith("sk-or-v1-") and minted.key_id
    assert openrouter.key_works(minted.api_key)
    assert [k["hash"] for k in openrouter.live_keys()] == [minted.key_id]
    assert minted.api_key not in repr(minted)


def test_mint_sends_limits_from_camel_case_parameters(http, openrouter, creds):
    _mint(http, openrouter, creds, name="exact-name", limit=25, limitReset="weekly", includeByokInLimit=True)
    [key] = openrouter.live_keys()
    assert (key["name"], key["limit"], key["limit_reset"], key["include_byok_in_limit"]) == (
        "exact-name",
        25,
        "weekly",
        True,
    )


def test_mint_name_kwarg_overrides_parameter_name_and_unset_fields_are_left_out():
    body = create_body(
        "minted-name", {"name": "configured", "limit": None, "limitReset": None, "includeByokInLimit": False}
    )
    assert body == {"name": "minted-name", "include_byok_in_limit": False}


def test_mint_4xx_is_final_and_carries_the_provider_message(http, openrouter, creds):
    with pytest.raises(ProviderError) as caught:
        _mint(http, openrouter, creds, limit=-1)
    error = caught.value
    assert error.status == 400 and not error.retryable and not error.ambiguous
    assert error.message == "Failed to create OpenRouter API key: limit must be a non-negative number or null"


def test_mint_with_a_revoked_management_key_is_unauthorised(http, openrouter):
    with pytest.raises(ProviderError) as caught:
        _mint(http, openrouter, {"apiKey": "sk-or-v1-" + "1" * 64})
    assert caught.value.status == 401 and not caught.value.ambiguous
    assert caught.value.message == "Failed to create OpenRouter API key: User not found."


def test_mint_5xx_is_ambiguous_and_retryable(http, openrouter, creds):
    openrouter.add_fault("POST", r"/keys$", kind="status", status=500)
    with pytest.raises(ProviderError) as caught:
        _mint(http, openrouter, creds)
    assert caught.value.ambiguous and caught.value.retryable and caught.value.status == 500


def test_mint_applied_then_failed_is_ambiguous_and_the_key_exists(http, openrouter, creds):
    openrouter.add_fault("POST", r"/keys$", kind="applied_then_failed", status=502)
    with pytest.raises(ProviderError) as caught:
        _mint(http, openrouter, creds, name="ghost-key")
    assert caught.value.ambiguous and caught.value.retryable
    assert [k["name"] for k in openrouter.live_keys()] == ["ghost-key"]


@pytest.mark.parametrize("kind", ["drop", "applied_then_drop"])
def test_mint_dropped_connection_is_ambiguous(http, openrouter, creds, kind):
    openrouter.add_fault("POST", r"/keys$", kind=kind)
    with pytest.raises(ProviderError) as caught:
        _mint(http, openrouter, creds)
    assert caught.value.ambiguous and caught.value.retryable and caught.value.status is None


def test_mint_timeout_is_ambiguous(openrouter, creds):
    openrouter.add_fault("POST", r"/keys$", kind="latency", delay=0.6)
    with httpx.Client(timeout=0.2) as client, pytest.raises(ProviderError) as caught:
        provider.mint(client, openrouter.base_url, creds, name="slow", parameters={})
    assert caught.value.ambiguous and caught.value.retryable
    assert "timed out" in caught.value.message


def test_mint_connect_failure_is_not_ambiguous(http, creds):
    with CannedServer() as server:
        closed = server.base_url
    with pytest.raises(ProviderError) as caught:
        provider.mint(http, closed, creds, name="never-sent", parameters={})
    assert caught.value.retryable and not caught.value.ambiguous


def test_mint_429_is_retryable_not_ambiguous_with_retry_after(http, openrouter, creds):
    openrouter.add_fault("POST", r"/keys$", kind="status", status=429, retry_after=2.5)
    with pytest.raises(ProviderError) as caught:
        _mint(http, openrouter, creds)
    error = caught.value
    assert error.status == 429 and error.retryable and not error.ambiguous
    assert error.retry_after == pytest.approx(2.5)


@pytest.mark.parametrize("payload", [{"data": {"hash": "abc"}}, {"key": "sk-or-v1-zzz", "data": {}}, {}])
def test_mint_201_without_key_or_hash_is_invalid(http, payload):
    with (
        CannedServer(201, json.dumps(payload).encode(), "application/json") as server,
        pytest.raises(ProviderError) as caught,
    ):
        provider.mint(http, server.base_url, {"apiKey": "sk-or-v1-m"}, name="n", parameters={})
    assert caught.value.message == "Invalid response from OpenRouter: missing 'key' or 'hash'."
    assert caught.value.ambiguous
    assert "sk-or-v1-zzz" not in caught.value.message


def test_mint_answered_200_is_not_trusted_but_reconciled(http):
    body = json.dumps({"key": "sk-or-v1-x", "data": {"hash": "h"}}).encode()
    with CannedServer(200, body, "application/json") as server, pytest.raises(ProviderError) as caught:
        provider.mint(http, server.base_url, {"apiKey": "sk-or-v1-m"}, name="n", parameters={})
    assert caught.value.ambiguous and "sk-or-v1-x" not in caught.value.message


def test_provider_text_that_echoes_a_key_is_redacted(http):
    body = json.dumps({"error": {"code": 400, "message": "bad key sk-or-v1-deadbeefcafe0123"}}).encode()
    with CannedServer(400, body, "application/json") as server, pytest.raises(ProviderError) as caught:
        provider.mint(http, server.base_url, {"apiKey": "sk-or-v1-m"}, name="n", parameters={})
    assert "deadbeef" not in caught.value.message
    assert caught.value.message.startswith("Failed to create OpenRouter API key: bad key")


# --- verify ----------------------------------------------------------------------------------


def test_verify_accepts_a_fresh_key(http, openrouter, creds):
    provider.verify(http, openrouter.base_url, _mint(http, openrouter, creds).api_key)


def test_verify_rejects_a_deleted_key_without_echoing_it(http, openrouter, creds):
    minted = _mint(http, openrouter, creds)
    provider.revoke(http, openrouter.base_url, creds, minted.key_id)
    with pytest.raises(ProviderError) as caught:
        provider.verify(http, openrouter.base_url, minted.api_key)
    assert caught.value.status == 401 and not caught.value.retryable
    assert caught.value.message.startswith("OpenRouter API key verification failed: ")
    assert minted.api_key not in caught.value.message


def test_verify_network_failure_is_retryable(http, openrouter, creds):
    minted = _mint(http, openrouter, creds)
    openrouter.add_fault("GET", r"/key$", kind="drop")
    with pytest.raises(ProviderError) as caught:
        provider.verify(http, openrouter.base_url, minted.api_key)
    assert caught.value.retryable and not caught.value.ambiguous


# --- revoke ----------------------------------------------------------------------------------


def test_revoke_deletes_the_key(http, openrouter, creds):
    minted = _mint(http, openrouter, creds)
    provider.revoke(http, openrouter.base_url, creds, minted.key_id)
    assert openrouter.live_keys() == [] and not openrouter.key_works(minted.api_key)


def test_revoke_404_is_no_error_and_says_the_key_was_unknown(http, openrouter, creds):
    """Whether that 404 proves the key gone depends on whose credentials asked: the caller decides (issue 10 A7)."""
    minted = _mint(http, openrouter, creds)
    assert provider.revoke(http, openrouter.base_url, creds, minted.key_id) is True
    assert provider.revoke(http, openrouter.base_url, creds, minted.key_id) is False  # 404 now
    assert provider.revoke(http, openrouter.base_url, creds, "never-existed") is False


def test_revoke_5xx_is_retryable_with_message(http, openrouter, creds):
    minted = _mint(http, openrouter, creds)
    openrouter.add_fault("DELETE", r"/keys/", kind="status", status=500)
    with pytest.raises(ProviderError) as caught:
        provider.revoke(http, openrouter.base_url, creds, minted.key_id)
    assert caught.value.retryable and not caught.value.ambiguous
    assert caught.value.message == "Failed to delete OpenRouter API key: Internal Server Error"
    assert openrouter.key_works(minted.api_key)


def test_revoke_with_a_bad_management_key_is_final(http, openrouter, creds):
    minted = _mint(http, openrouter, creds)
    with pytest.raises(ProviderError) as caught:
        provider.revoke(http, openrouter.base_url, {"apiKey": "sk-or-v1-bad"}, minted.key_id)
    assert caught.value.status == 401 and not caught.value.retryable


# --- list_keys -------------------------------------------------------------------------------


def test_list_keys_reads_every_page_including_disabled(http, openrouter, creds):
    minted = [_mint(http, openrouter, creds, name=f"k-{i:03d}") for i in range(250)]
    disabled = minted[7]
    response = http.patch(
        f"{openrouter.base_url}/keys/{disabled.key_id}",
        json={"disabled": True},
        headers={"Authorization": f"Bearer {creds['apiKey']}"},
    )
    assert response.status_code == 200
    openrouter.request_log.clear()
    listed = provider.list_keys(http, openrouter.base_url, creds)
    assert len(listed) == 250
    assert {k.key_id for k in listed} == {m.key_id for m in minted}
    by_id = {k.key_id: k for k in listed}
    assert by_id[disabled.key_id].disabled and by_id[disabled.key_id].name == "k-007"
    assert all(k.created_at is not None and k.created_at.tzinfo is not None for k in listed)
    pages = [entry for entry in openrouter.request_log if entry[0] == "GET" and entry[1].endswith("/keys")]
    assert len(pages) == 3


def test_list_keys_exact_page_boundary_stops_on_empty_page(http, openrouter, creds):
    for i in range(100):
        _mint(http, openrouter, creds, name=f"b-{i}")
    assert len(provider.list_keys(http, openrouter.base_url, creds)) == 100


def test_list_keys_failure_mid_scan_raises(http, openrouter, creds):
    for i in range(120):
        _mint(http, openrouter, creds, name=f"c-{i}")
    openrouter.add_fault("GET", r"/keys$", kind="status", status=429, retry_after=1)
    with pytest.raises(ProviderError) as caught:
        provider.list_keys(http, openrouter.base_url, creds)
    assert caught.value.status == 429 and caught.value.retry_after == pytest.approx(1.0)


# --- Retry-After -----------------------------------------------------------------------------

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "junk", "Retry-After": "9"}, 9.0),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers, expected):
    value = retry_after_seconds(httpx.Headers(headers), now=NOW)
    assert value == (pytest.approx(expected) if expected is not None else None)
