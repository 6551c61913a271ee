"""The official `openrouter` SDK (1.3.x) pointed at the OpenRouter emulator, for the fidelity tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openrouter import OpenRouter
from openrouter.utils import BackoffStrategy, RetryConfig

from emulators.openrouter import OpenRouterEmulator

# The SDK retries creates on 5xx by default (OpenRouter §10.2); tests must see every answer as it is.
NO_RETRIES = RetryConfig("none", BackoffStrategy(1, 1, 1.0, 1), retry_connection_errors=False)


@pytest.fixture
def sdk_factory(openrouter: OpenRouterEmulator) -> Iterator:
    clients: list[OpenRouter] = []

    def make(api_key: str) -> OpenRouter:
        client = OpenRouter(api_key=api_key, server_url=openrouter.base_url, retry_config=NO_RETRIES, timeout_ms=5000)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def manager(openrouter, sdk_factory) -> OpenRouter:
    return sdk_factory(openrouter.create_management_key())
