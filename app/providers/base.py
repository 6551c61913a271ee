"""The provider interface. A provider only talks to its upstream key API.

Providers know HTTP and their wire format, nothing else: no database, no settings, no crypto, no
FastAPI, and nothing from app outside app.providers. They take the HTTP client (app.providers.http) and
base URL that app.catalogue hands them and plaintext credentials, return plain data, and raise
ProviderError. They never retry or sleep: retry policy belongs to app.rotation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.providers.http import Http


class ProviderError(Exception):
    """A provider call failed.

    `retryable`: a later retry may succeed (429, 5xx, network). `ambiguous`: the call may have taken
    effect even though it failed (a timeout or 5xx on a create), so the outcome must be reconciled.
    `retry_after`: seconds the provider asked us to wait, if it said. `status`: the HTTP status, if any.
    The message never contains key material.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        ambiguous: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after


@dataclass(frozen=True)
class MintedKey:
    key_id: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class KeyUsage:
    """What the provider says about a key's traffic, read at `observed_at` (this process's UTC clock, when the
    answer arrived). `usage`: the key's all-time spend in USD credits, None when the provider does not report it
    (requests that cost no credits never move it). `last_used_at`: the provider's last use of the key, None
    when it was never used or the provider does not report it. docs/providers.md says which provider reports
    which."""

    observed_at: datetime
    usage: float | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class ListedKey:
    key_id: str
    name: str
    created_at: datetime | None
    disabled: bool = False


class Provider(Protocol):
    # Whether `mint` can give a key an expiry (`expires_at`); a provider that cannot refuses one.
    supports_expiry: bool

    def validate_connection(self, client: Http, base_url: str, credentials: dict[str, Any]) -> None:
        """Raise ProviderError unless the management credentials work."""

    def mint(
        self,
        client: Http,
        base_url: str,
        credentials: dict[str, Any],
        *,
        name: str,
        parameters: dict[str, Any],
        expires_at: datetime | None = None,
    ) -> MintedKey:
        """Create one key named `name`, dying on its own at `expires_at` (an aware datetime) when one is given.
        Never retried blindly by the caller. A provider without `supports_expiry` raises ProviderError for an
        `expires_at`, before any request, rather than mint a key that would outlive it."""

    def verify(self, client: Http, base_url: str, api_key: str) -> None:
        """Raise ProviderError unless `api_key` itself works."""

    def revoke(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> bool:
        """Delete a key: True if it was deleted now, False if the provider does not know it (404) under these
        credentials. Whether a 404 proves the key gone depends on whose credentials asked: the caller decides."""

    def sees_key(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> bool:
        """True if the management credentials can see the key, False if the provider does not know it under them;
        ProviderError when the provider cannot say."""

    def list_keys(self, client: Http, base_url: str, credentials: dict[str, Any]) -> list[ListedKey]:
        """Every key the management credentials can see, all pages, disabled ones included."""

    def key_usage(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> KeyUsage | None:
        """The provider's usage signal for one key; None if the provider does not know the key under these
        credentials (deleted, or another account's); ProviderError when the provider cannot say."""
