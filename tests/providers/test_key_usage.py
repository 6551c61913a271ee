"""`key_usage`: the provider's usage signal for one key, read over real HTTP from the emulators.

OpenRouter answers `GET /keys/{hash}` with `usage` in USD credits (and `last_used_at`); ARouter's seed contract
has only its list, with `last_used_at` (ARouter §4), and the public variant adds `usage`. A key the provider
does not know under these credentials reads as None; a provider that cannot answer raises ProviderError."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.providers import arouter as arouter_wire
from app.providers import openrouter as openrouter_wire
from app.providers.base import KeyUsage, ProviderError
from emulators.arouter import ARouterEmulator
from tests.factories import CannedServer

PAID, FREE = "openai/gpt-4o", "meta-llama/llama-3.3-70b-instruct:free"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as client:
        yield client


@pytest.fixture(params=["open-router", "arouter"])
def wire(request, openrouter, arouter):
    """(provider, emulator, chat path, the GET path key_usage reads)."""
    if request.param == "open-router":
        return openrouter_wire.provider, openrouter, "/chat/completions", r"/keys/[^/]+$"
    return arouter_wire.provider, arouter, "/v1/chat/completions", r"/v1/keys$"


def _chat(http, emulator, path: str, api_key: str, model: str = PAID) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    response = http.post(emulator.base_url + path, json=body, headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 200, response.text


def _setup(http, wire):
    provider, emulator, chat_path, _ = wire
    creds = {"apiKey": emulator.create_management_key()}
    minted = provider.mint(http, emulator.base_url, creds, name="app-g1", parameters={})
    return provider, emulator, chat_path, creds, minted


def test_an_unused_key_reads_as_never_used(http, wire):
    provider, emulator, _, creds, minted = _setup(http, wire)
    before = datetime.now(UTC)
    reading = provider.key_usage(http, emulator.base_url, creds, minted.key_id)
    assert isinstance(reading, KeyUsage) and reading.last_used_at is None
    assert before <= reading.observed_at <= datetime.now(UTC)
    expected_usage = 0.0 if provider is openrouter_wire.provider else None
    assert reading.usage == expected_usage  # the seed ARouter list has no usage field


def test_a_completion_moves_the_signal_each_provider_reports(http, wire):
    provider, emulator, chat_path, creds, minted = _setup(http, wire)
    _chat(http, emulator, chat_path, minted.api_key)
    _chat(http, emulator, chat_path, minted.api_key)
    reading = provider.key_usage(http, emulator.base_url, creds, minted.key_id)
    assert reading.last_used_at is not None and reading.last_used_at.tzinfo is not None
    assert abs(reading.last_used_at - datetime.now(UTC)) < timedelta(seconds=5)
    if provider is openrouter_wire.provider:
        assert reading.usage == 0.0002


def test_free_requests_never_move_openrouter_usage(http, openrouter):
    creds = {"apiKey": openrouter.create_management_key()}
    minted = openrouter_wire.provider.mint(http, openrouter.base_url, creds, name="app-g1", parameters={})
    _chat(http, openrouter, "/chat/completions", minted.api_key)
    first = openrouter_wire.provider.key_usage(http, openrouter.base_url, creds, minted.key_id)
    for _ in range(3):
        _chat(http, openrouter, "/chat/completions", minted.api_key, model=FREE)
    second = openrouter_wire.provider.key_usage(http, openrouter.base_url, creds, minted.key_id)
    assert first.usage == second.usage == 0.0001  # two readings apart, the same: the traffic is invisible here
    assert second.last_used_at >= first.last_used_at


def test_free_requests_are_seen_by_arouter_last_used_at(http, arouter):
    creds = {"apiKey": arouter.create_management_key()}
    minted = arouter_wire.provider.mint(http, arouter.base_url, creds, name="app-g1", parameters={})
    _chat(http, arouter, "/v1/chat/completions", minted.api_key, model=FREE)
    assert arouter_wire.provider.key_usage(http, arouter.base_url, creds, minted.key_id).last_used_at is not None


def test_arouter_variant_reports_usage_too(http):
    with ARouterEmulator(variant="openrouter-like") as emulator:
        creds = {"apiKey": emulator.create_management_key()}
        provider = arouter_wire.openrouter_like
        minted = provider.mint(http, emulator.base_url, creds, name="app-g1", parameters={})
        _chat(http, emulator, "/api/v1/chat/completions", minted.api_key)
        reading = provider.key_usage(http, emulator.base_url, creds, minted.key_id)
        assert reading.usage == 0.0001 and reading.last_used_at is not None


def test_arouter_finds_a_key_on_a_later_page(http, arouter):
    arouter.page_size = 2
    creds = {"apiKey": arouter.create_management_key()}
    first = arouter_wire.provider.mint(http, arouter.base_url, creds, name="oldest", parameters={})
    for i in range(4):
        arouter_wire.provider.mint(http, arouter.base_url, creds, name=f"k{i}", parameters={})
    _chat(http, arouter, "/v1/chat/completions", first.api_key)
    assert arouter_wire.provider.key_usage(http, arouter.base_url, creds, first.key_id).last_used_at is not None
    assert sum(1 for method, path, _ in arouter.request_log if method == "GET" and path == "/v1/keys") == 3


def test_a_key_unknown_to_these_credentials_reads_as_none(http, wire):
    provider, emulator, _, creds, minted = _setup(http, wire)
    other_account = {"apiKey": emulator.create_management_key(account="b")}
    assert provider.key_usage(http, emulator.base_url, other_account, minted.key_id) is None
    provider.revoke(http, emulator.base_url, creds, minted.key_id)
    assert provider.key_usage(http, emulator.base_url, creds, minted.key_id) is None


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (403, False), (429, True), (500, True), (503, True)])
def test_a_provider_that_cannot_answer_raises(http, wire, status, retryable):
    provider, emulator, _, creds, minted = _setup(http, wire)
    emulator.add_fault("GET", wire[3], kind="status", status=status, retry_after=2 if status == 429 else None)
    with pytest.raises(ProviderError) as caught:
        provider.key_usage(http, emulator.base_url, creds, minted.key_id)
    error = caught.value
    assert (error.status, error.retryable, error.ambiguous) == (status, retryable, False)
    assert error.retry_after == (2 if status == 429 else None)
    assert minted.api_key not in error.message and creds["apiKey"] not in error.message


def test_a_dropped_connection_is_retryable(http, wire):
    provider, emulator, _, creds, minted = _setup(http, wire)
    emulator.add_fault("GET", wire[3], kind="drop")
    with pytest.raises(ProviderError) as caught:
        provider.key_usage(http, emulator.base_url, creds, minted.key_id)
    assert caught.value.retryable and caught.value.status is None


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        (openrouter_wire.provider, b"<html>hello</html>"),
        (openrouter_wire.provider, b'{"data": {"hash": "someone-else"}}'),
        (arouter_wire.provider, b'{"nothing": "here"}'),
    ],
)
def test_an_unreadable_answer_raises_retryable(http, provider, body):
    with CannedServer(200, body, "application/json") as server, pytest.raises(ProviderError) as caught:
        provider.key_usage(http, server.base_url, {"apiKey": "sk-or-v1-abc"}, "the-key")
    assert caught.value.retryable and caught.value.status == 200


@pytest.mark.parametrize(
    ("reported", "usage"),
    [(1.5, 1.5), (0, 0.0), (-1, None), ("1.5", None), (True, None), (None, None), ("missing", None)],
)
def test_openrouter_usage_is_read_leniently(http, reported, usage):
    item: dict = {"hash": "the-key", "last_used_at": "not a time"}
    if reported != "missing":
        item["usage"] = reported
    body = httpx.Response(200, json={"data": item}).content
    with CannedServer(200, body, "application/json") as server:
        reading = openrouter_wire.provider.key_usage(http, server.base_url, {"apiKey": "k"}, "the-key")
    assert reading.usage == usage and reading.last_used_at is None
