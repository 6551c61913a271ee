"""`mint(expires_at=)`: OpenRouter sends `expires_at` as `YYYY-MM-DDTHH:MM:SSZ` (OpenRouter §4.1) and the key
dies on its own; ARouter's key API has no expiry (ARouter §3.1), so its client refuses one before any request
rather than mint a key that would outlive what was asked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from app.providers import arouter as arouter_wire
from app.providers import openrouter as openrouter_wire
from app.providers.base import ProviderError
from tests.conftest import FakeClock


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as client:
        yield client


@pytest.fixture
def sent_bodies(openrouter) -> list[dict]:
    bodies: list[dict] = []
    openrouter.after_request = lambda request: bodies.append(json.loads(request.body)) if request.body else None
    return bodies


def test_each_provider_says_whether_it_can_expire_keys():
    assert openrouter_wire.provider.supports_expiry is True
    assert arouter_wire.provider.supports_expiry is False and arouter_wire.openrouter_like.supports_expiry is False


def test_openrouter_sends_expiry_in_utc_with_whole_seconds(http, openrouter, sent_bodies):
    creds = {"apiKey": openrouter.create_management_key()}
    in_paris = timezone(timedelta(hours=2))
    expires = datetime(2099, 6, 1, 14, 30, 15, 987654, tzinfo=in_paris)
    minted = openrouter_wire.provider.mint(
        http, openrouter.base_url, creds, name="app-g1", parameters={}, expires_at=expires
    )
    assert sent_bodies == [{"name": "app-g1", "expires_at": "2099-06-01T12:30:15Z"}]
    [listed] = openrouter.live_keys()
    assert listed["hash"] == minted.key_id and listed["expires_at"] == "2099-06-01T12:30:15.000Z"


def test_openrouter_without_expiry_sends_none(http, openrouter, sent_bodies):
    creds = {"apiKey": openrouter.create_management_key()}
    openrouter_wire.provider.mint(http, openrouter.base_url, creds, name="app-g1", parameters={"limit": 5})
    assert sent_bodies == [{"name": "app-g1", "limit": 5}]
    assert openrouter.live_keys()[0]["expires_at"] is None


def test_openrouter_key_dies_at_its_expiry(http, openrouter):
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    openrouter.clock = clock
    creds = {"apiKey": openrouter.create_management_key()}
    minted = openrouter_wire.provider.mint(
        http, openrouter.base_url, creds, name="app-g1", parameters={}, expires_at=clock() + timedelta(seconds=30)
    )
    openrouter_wire.provider.verify(http, openrouter.base_url, minted.api_key)
    clock.advance(30)
    with pytest.raises(ProviderError) as caught:
        openrouter_wire.provider.verify(http, openrouter.base_url, minted.api_key)
    assert caught.value.status == 401 and not caught.value.retryable
    # Expired is not deleted: the management key still sees it, and revoking it still works.
    assert openrouter_wire.provider.sees_key(http, openrouter.base_url, creds, minted.key_id)
    assert openrouter_wire.provider.revoke(http, openrouter.base_url, creds, minted.key_id) is True


def test_openrouter_refuses_a_past_expiry_without_ambiguity(http, openrouter):
    creds = {"apiKey": openrouter.create_management_key()}
    with pytest.raises(ProviderError) as caught:
        openrouter_wire.provider.mint(
            http, openrouter.base_url, creds, name="app-g1", parameters={}, expires_at=datetime(2001, 1, 1, tzinfo=UTC)
        )
    error = caught.value
    assert (error.status, error.retryable, error.ambiguous) == (400, False, False)
    assert "expires_at" in error.message and openrouter.create_count == 0


def test_a_naive_expiry_is_a_caller_bug_and_nothing_is_sent(http, openrouter):
    creds = {"apiKey": openrouter.create_management_key()}
    with pytest.raises(ValueError, match="aware"):
        openrouter_wire.provider.mint(
            http, openrouter.base_url, creds, name="app-g1", parameters={}, expires_at=datetime(2099, 1, 1)
        )
    assert openrouter.request_log == []


@pytest.mark.parametrize("provider", [arouter_wire.provider, arouter_wire.openrouter_like])
def test_arouter_refuses_an_expiry_before_any_request(http, arouter, provider):
    creds = {"apiKey": arouter.create_management_key()}
    with pytest.raises(ProviderError) as caught:
        provider.mint(
            http, arouter.base_url, creds, name="app-g1", parameters={}, expires_at=datetime(2099, 1, 1, tzinfo=UTC)
        )
    error = caught.value
    assert (error.status, error.retryable, error.ambiguous) == (None, False, False)
    assert "expiry" in error.message
    assert arouter.request_log == [] and arouter.create_count == 0


def test_arouter_without_expiry_mints_as_before(http, arouter):
    creds = {"apiKey": arouter.create_management_key()}
    minted = arouter_wire.provider.mint(http, arouter.base_url, creds, name="app-g1", parameters={}, expires_at=None)
    assert arouter.key_works(minted.api_key)
