"""`sees_key`: can these management credentials see this key?

OpenRouter answers by `GET /keys/{hash}` (OpenRouter §6); ARouter's seed contract has no such route (ARouter §2),
so its client looks through the listing. The answer decides whether a connection may switch credentials while
keys are live (issue 10 A7)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.providers import arouter as arouter_wire
from app.providers import openrouter as openrouter_wire
from app.providers.base import ProviderError
from emulators.arouter import ARouterEmulator


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=1.0) as client:
        yield client


@pytest.fixture(params=["open-router", "arouter"])
def wire(request, openrouter, arouter):
    """(provider, emulator, the emulator's GET path for the check)."""
    if request.param == "open-router":
        return openrouter_wire.provider, openrouter, r"/keys/[^/]+$"
    return arouter_wire.provider, arouter, r"/v1/keys$"


def test_the_account_that_minted_a_key_sees_it_and_another_does_not(http, wire):
    provider, emulator, _ = wire
    own = {"apiKey": emulator.create_management_key()}
    same_account = {"apiKey": emulator.create_management_key(name="second")}
    other_account = {"apiKey": emulator.create_management_key(account="b")}
    minted = provider.mint(http, emulator.base_url, own, name="app-g1", parameters={})

    assert provider.sees_key(http, emulator.base_url, own, minted.key_id) is True
    assert provider.sees_key(http, emulator.base_url, same_account, minted.key_id) is True
    assert provider.sees_key(http, emulator.base_url, other_account, minted.key_id) is False
    # And another account's delete is a 404 that leaves the key alive.
    assert provider.revoke(http, emulator.base_url, other_account, minted.key_id) is False
    assert emulator.key_works(minted.api_key)

    provider.revoke(http, emulator.base_url, own, minted.key_id)
    assert provider.sees_key(http, emulator.base_url, own, minted.key_id) is False


@pytest.mark.parametrize("status", [401, 429, 500])
def test_a_provider_that_cannot_answer_raises(http, wire, status):
    provider, emulator, path = wire
    creds = {"apiKey": emulator.create_management_key()}
    minted = provider.mint(http, emulator.base_url, creds, name="app-g1", parameters={})
    emulator.add_fault("GET", path, kind="status", status=status)
    with pytest.raises(ProviderError) as caught:
        provider.sees_key(http, emulator.base_url, creds, minted.key_id)
    assert caught.value.status == status and caught.value.retryable == (status != 401)
    assert creds["apiKey"] not in caught.value.message


def test_arouter_finds_a_key_on_a_later_page_and_stops_there(http, arouter):
    creds = {"apiKey": arouter.create_management_key()}
    arouter.page_size = 2
    ids = [
        arouter_wire.provider.mint(http, arouter.base_url, creds, name=f"k{i}", parameters={}).key_id for i in range(5)
    ]
    arouter.request_log.clear()
    assert arouter_wire.provider.sees_key(http, arouter.base_url, creds, ids[2]) is True  # newest first: page 2
    assert sum(1 for entry in arouter.request_log if entry[0] == "GET") == 2


def test_arouter_variant_sees_keys_too(http):
    with ARouterEmulator(variant="openrouter-like") as emulator:
        creds = {"apiKey": emulator.create_management_key()}
        minted = arouter_wire.openrouter_like.mint(http, emulator.base_url, creds, name="k", parameters={})
        assert arouter_wire.openrouter_like.sees_key(http, emulator.base_url, creds, minted.key_id) is True
        other = {"apiKey": emulator.create_management_key(account="b")}
        assert arouter_wire.openrouter_like.sees_key(http, emulator.base_url, other, minted.key_id) is False


def test_openrouter_refuses_an_answer_about_another_key(http, openrouter, monkeypatch):
    """A proxy that answers every GET with the same key must not count as seeing another one."""
    creds = {"apiKey": openrouter.create_management_key()}
    one = openrouter_wire.provider.mint(http, openrouter.base_url, creds, name="a", parameters={})
    other = openrouter_wire.provider.mint(http, openrouter.base_url, creds, name="b", parameters={})
    get_one = openrouter._get
    monkeypatch.setattr(openrouter, "_get", lambda request, key_hash: get_one(request, one.key_id))
    with pytest.raises(ProviderError) as caught:
        openrouter_wire.provider.sees_key(http, openrouter.base_url, creds, other.key_id)
    assert caught.value.retryable
