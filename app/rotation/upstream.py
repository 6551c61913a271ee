"""The provider side of one connection: its wire client as the catalogue hands it over (base URL and shared
HTTP client included) and the plaintext management credentials, bundled so the rotation core can call the
provider in one line, through the connection's rate limiter.

It also knows whose credentials it holds (`fingerprint`), because a provider's 404 means "not known to these
credentials": it proves a key gone only when these are the credentials that answer for the key."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlmodel import Session

from app import catalogue
from app.catalogue import Wire
from app.config import get_settings
from app.crypto import fingerprint
from app.models import AppConnection
from app.models.tables import CONNECTIONS
from app.providers.base import KeyUsage, ListedKey, MintedKey, ProviderError
from app.rotation.limits import LimiterTimeout, provider_limiter
from app.store.credentials import open_credentials

T = TypeVar("T")

OTHER_CREDENTIALS = (
    "the provider does not know this key under the connection's current credentials: it belongs to other "
    "credentials (the connection was pointed at another key or account), so it may still be live there"
)


def credentials_fingerprint(credentials: dict[str, Any]) -> str:
    """A stable fingerprint of plaintext management credentials: the same key always gives the same value, under
    any keyring (the connection's `credentials_hash` hashes a fresh ciphertext, so it changes on every save). The
    keys are long random tokens, so the hash cannot be reversed; the prefix keeps it apart from other hashes."""
    return fingerprint("keyturn/management-credentials/v1:" + json.dumps(credentials, sort_keys=True))


class ConnectionUnavailable(Exception):
    """The connection row is gone or names an app keyturn does not know."""


@dataclass
class Upstream:
    connection_id: str
    app_slug: str
    display_name: str
    wire: Wire
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

    def mint(self, name: str, parameters: dict[str, Any], *, expires_at: datetime | None = None) -> MintedKey:
        return self._limited(
            lambda: self.wire.mint(self.credentials, name=name, parameters=parameters, expires_at=expires_at)
        )

    def verify(self, api_key: str) -> None:
        self._limited(lambda: self.wire.verify(api_key))

    @functools.cached_property
    def fingerprint(self) -> str:
        return credentials_fingerprint(self.credentials)

    def revoke(self, key_id: str, *, minted_with: str | None) -> None:
        """Delete a key. A 404 counts as revoked only under the credentials that answer for the key (`minted_with`,
        the row's `credential_fingerprint`; null for rows older than fingerprints): under any other credentials
        the key may live on in another account, so that 404 is a ProviderError and the key stays queued."""
        deleted = self._limited(lambda: self.wire.revoke(self.credentials, key_id))
        if not deleted and minted_with is not None and minted_with != self.fingerprint:
            raise ProviderError(OTHER_CREDENTIALS, status=404)

    def sees_key(self, key_id: str) -> bool:
        return self._limited(lambda: self.wire.sees_key(self.credentials, key_id))

    def list_keys(self) -> list[ListedKey]:
        return self._limited(lambda: self.wire.list_keys(self.credentials))

    def key_usage(self, key_id: str) -> KeyUsage | None:
        """The provider's usage signal for one key (app.providers.base.KeyUsage); None if it does not know the key."""
        return self._limited(lambda: self.wire.key_usage(self.credentials, key_id))


# Every rotation reads its connection: two columns by a statement built once, not an ORM object.
_CONNECTION = select(CONNECTIONS.c.app, CONNECTIONS.c.encrypted_credentials).where(
    CONNECTIONS.c.id == bindparam("p_id")
)


def for_connection(session: Session, connection_id: str) -> Upstream:
    row = session.execute(_CONNECTION, {"p_id": connection_id}).first()
    return from_columns(connection_id, *(row or (None, None)))


def from_columns(connection_id: str, app: str | None, encrypted_credentials: str | None) -> Upstream:
    """The connection's provider side from its `app` and `encrypted_credentials` columns, read by the caller (both
    None: there is no such connection)."""
    if app is None or encrypted_credentials is None:
        raise ConnectionUnavailable(f"app connection {connection_id} does not exist")
    return _upstream(connection_id, app, open_credentials(connection_id, encrypted_credentials))


def with_credentials(connection: AppConnection, credentials: dict[str, Any]) -> Upstream:
    """The connection's provider side under `credentials` (its own, or new ones being checked before a change)."""
    return _upstream(connection.id, connection.app, credentials)


def _upstream(connection_id: str, app: str, credentials: dict[str, Any]) -> Upstream:
    wire = catalogue.wire(app)
    if wire is None:
        raise ConnectionUnavailable(f"app connection {connection_id} is for unknown app {app!r}")
    return Upstream(
        connection_id=connection_id,
        app_slug=app,
        display_name=catalogue.app_name(app),
        wire=wire,
        credentials=credentials,
    )
