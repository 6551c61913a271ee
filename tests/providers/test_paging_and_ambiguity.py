"""Rules both provider clients share (issue 10, A1 and A9): a listing is complete or it is an error, and a
create answered by a status a proxy can give after forwarding it is ambiguous."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.providers import arouter as arouter_client
from app.providers import openrouter as openrouter_client
from app.providers.base import ProviderError
from emulators.server import EmulatorServer


@dataclass
class Client:
    module: Any
    emulator: EmulatorServer
    create_path: str

    def creds(self) -> dict:
        return {"apiKey": self.emulator.create_management_key()}

    def mint(self, http: httpx.Client, creds: dict, name: str):
        return self.module.provider.mint(http, self.emulator.base_url, creds, name=name, parameters={})

    def list_keys(self, http: httpx.Client, creds: dict):
        return self.module.provider.list_keys(http, self.emulator.base_url, creds)


@pytest.fixture(params=["open-router", "arouter"])
def client(request, openrouter, arouter) -> Client:
    if request.param == "open-router":
        return Client(openrouter_client, openrouter, r"/keys$")
    arouter.page_size = 2
    return Client(arouter_client, arouter, r"/v1/keys$")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as session:
        yield session


def test_listing_past_the_page_cap_is_an_error_not_a_partial_list(client, http, monkeypatch):
    creds = client.creds()
    per_page = openrouter_client.PAGE_SIZE if client.module is openrouter_client else 2
    for i in range(2 * per_page + 1):
        client.mint(http, creds, f"cap-{i:03d}")
    monkeypatch.setattr(client.module, "MAX_PAGES", 2)
    with pytest.raises(ProviderError) as caught:
        client.list_keys(http, creds)
    assert caught.value.retryable and "more than 2 pages" in caught.value.message
    monkeypatch.setattr(client.module, "MAX_PAGES", 3)
    assert len(client.list_keys(http, creds)) == 2 * per_page + 1


@pytest.mark.parametrize("status", [408, 499])
def test_create_answered_by_a_proxy_after_forwarding_is_ambiguous(client, http, status):
    creds = client.creds()
    client.emulator.add_fault("POST", client.create_path, kind="applied_then_failed", status=status)
    with pytest.raises(ProviderError) as caught:
        client.mint(http, creds, "proxied-g1")
    assert caught.value.status == status and caught.value.ambiguous and caught.value.retryable
    assert [k.name for k in client.list_keys(http, creds)] == ["proxied-g1"]  # the key was made


@pytest.mark.parametrize("status", [400, 401, 403, 409, 425, 429])
def test_create_refused_by_the_provider_is_not_ambiguous(client, http, status):
    creds = client.creds()
    client.emulator.add_fault("POST", client.create_path, kind="status", status=status)
    with pytest.raises(ProviderError) as caught:
        client.mint(http, creds, "refused-g1")
    assert caught.value.status == status and not caught.value.ambiguous
