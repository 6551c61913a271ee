"""The provider side of one connection: its provider, base URL, the shared HTTP client and the plaintext
management credentials, bundled so the rotation core can call the provider in one line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from sqlmodel import Session

from app.config import get_settings
from app.models import AppConnection
from app.providers import registry
from app.providers.base import ListedKey, MintedKey, Provider, ProviderError
from app.rotation.limits import LimiterTimeout, provider_limiter
from app.store.credentials import load_credentials

T = TypeVar("T")


class ConnectionUnavailable(Exception):
    """The connection row is gone or names an app keyturn does not know."""


@dataclass
class Upstream:
    connection_id: str
    app_slug: str
    display_name: str
    provider: Provider
    client: httpx.Client
    base_url: str
    credentials: dict[str, Any] = field(repr=False)

    def _limited(self, call: Callable[[], T]) -> T:
        """Every provider call goes through the process-wide limiter of its connection; a 429 cools it down."""
        limiter = provider_limiter()
        try:
            with limiter.slot(self.connection_id, timeout=max(10.0, 2 * get_settings().http_timeout_seconds)):
                return call()
        except LimiterTimeout:
            # Nothing was sent, so this is never ambiguous.
            raise ProviderError(
                f"{self.display_name} is rate limited; no request slot became free", retryable=True
            ) from None
        except ProviderError as exc:
            if exc.status == 429:
                limiter.penalise(self.connection_id, exc.retry_after)
            raise

    def mint(self, name: str, parameters: dict[str, Any]) -> MintedKey:
        return self._limited(
            lambda: self.provider.mint(self.client, self.base_url, self.credentials, name=name, parameters=parameters)
        )

    def verify(self, api_key: str) -> None:
        self._limited(lambda: self.provider.verify(self.client, self.base_url, api_key))

    def revoke(self, key_id: str) -> None:
        self._limited(lambda: self.provider.revoke(self.client, self.base_url, self.credentials, key_id))

    def list_keys(self) -> list[ListedKey]:
        return self._limited(lambda: self.provider.list_keys(self.client, self.base_url, self.credentials))


def for_connection(session: Session, connection_id: str) -> Upstream:
    connection = session.get(AppConnection, connection_id)
    if connection is None:
        raise ConnectionUnavailable(f"app connection {connection_id} does not exist")
    entry = registry.app(connection.app)
    if entry is None:
        raise ConnectionUnavailable(f"app connection {connection_id} is for unknown app {connection.app!r}")
    return Upstream(
        connection_id=connection.id,
        app_slug=entry.slug,
        display_name=entry.name,
        provider=entry.provider_for(),
        client=registry.http_client(),
        base_url=registry.base_url(entry.slug),
        credentials=load_credentials(connection),
    )
