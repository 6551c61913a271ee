"""The one list of providers: adding a provider is one entry in ENTRIES (plus its wire client module and its
emulator; docs/providers.md has the checklist).

An entry holds all that keyturn knows of a provider outside its wire client: the connection app (slug,
Infisical's display name, methods), the rotation type (slug, display name, secrets-mapping template,
credential field names, parameter model), the base-URL setting and, for a provider that speaks more than
one wire format, the setting that picks one. This module is the only reader of provider settings and owns
the process's shared HTTP client: providers get their base URL and client from here (`wire()`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from app import metrics
from app.catalogue.parameters import ARouterParameters, OpenRouterParameters
from app.config import ConfigError, Settings, get_settings
from app.providers import arouter, openrouter
from app.providers.base import KeyUsage, ListedKey, MintedKey, Provider
from app.providers.http import Http, ProviderHttp

T = TypeVar("T")

# How Infisical names a connection method in messages ("... with method API Key").
METHOD_NAMES = {"api-key": "API Key"}


@dataclass(frozen=True)
class Setting:
    """A provider setting: `KEYTURN_<NAME>` in the environment or `<name>=` to Settings, else `default`.

    Settings keeps it as an extra (see app.config.ProviderSettings); only this module reads it."""

    name: str
    default: str

    @property
    def env_var(self) -> str:
        return f"KEYTURN_{self.name.upper()}"

    def value(self, settings: Settings) -> str:
        raw = (settings.model_extra or {}).get(self.name)
        return self.default if raw is None else str(raw).strip()


@dataclass(frozen=True)
class WireChoice:
    """A provider that speaks more than one wire format: `setting`'s value names the one in use."""

    setting: Setting
    wires: Mapping[str, Provider]

    def pick(self, settings: Settings) -> Provider:
        value = self.setting.value(settings)
        if value not in self.wires:
            raise ConfigError(f"{self.setting.env_var} must be one of {', '.join(self.wires)}, not {value!r}")
        return self.wires[value]


@dataclass(frozen=True)
class ConnectionApp:
    """An app keyturn can connect to. `name` is Infisical's display name, used in messages and operation ids."""

    slug: str
    name: str
    methods: tuple[str, ...]


@dataclass(frozen=True)
class RotationType:
    slug: str  # URL segment and `type` field
    name: str  # display name
    connection: ConnectionApp  # the app it mints with
    parameters_model: type[BaseModel]
    secrets_mapping_template: dict[str, str]
    # Field names of a generated credential in R9: every type uses Infisical's {apiKey, keyHash}, so clients
    # need one parser; `keyHash` holds the provider's key id whatever the provider calls it.
    credential_fields: tuple[str, str] = ("apiKey", "keyHash")
    # The provider can create a key with an expiry time, so the type takes `revocation.keyLifetimeSeconds`
    # (rotation §14k); a type without one answers 422 to any lifetime.
    key_expiry: bool = False

    @property
    def app(self) -> str:
        return self.connection.slug

    @property
    def app_name(self) -> str:
        return self.connection.name

    def option(self) -> dict[str, Any]:
        """The R1 options item."""
        return {
            "name": self.name,
            "type": self.slug,
            "connection": self.app,
            "template": {"secretsMapping": dict(self.secrets_mapping_template)},
        }


@dataclass(frozen=True)
class Entry:
    rotation: RotationType
    wire: Provider | WireChoice
    base_url: Setting

    @property
    def app(self) -> ConnectionApp:
        return self.rotation.connection

    def provider(self, settings: Settings) -> Provider:
        return self.wire.pick(settings) if isinstance(self.wire, WireChoice) else self.wire

    def settings(self) -> list[Setting]:
        choice = [self.wire.setting] if isinstance(self.wire, WireChoice) else []
        return [self.base_url, *choice]

    def wire_modules(self) -> set[str]:
        """The modules of this entry's wire clients (the only modules under app/providers that name it)."""
        wires = self.wire.wires.values() if isinstance(self.wire, WireChoice) else [self.wire]
        return {type(w).__module__ for w in wires}


_OPENROUTER = ConnectionApp(slug="open-router", name="OpenRouter", methods=("api-key",))
_AROUTER = ConnectionApp(slug="arouter", name="ARouter", methods=("api-key",))

ENTRIES: tuple[Entry, ...] = (
    Entry(
        rotation=RotationType(
            slug="open-router-api-key",
            name="OpenRouter API Key",
            connection=_OPENROUTER,
            parameters_model=OpenRouterParameters,
            secrets_mapping_template={"apiKey": "OPEN_ROUTER_API_KEY"},
            key_expiry=True,  # `expires_at` on create (OpenRouter §4.1)
        ),
        wire=openrouter.provider,
        base_url=Setting("openrouter_base_url", "https://openrouter.ai/api/v1"),
    ),
    Entry(
        rotation=RotationType(
            slug="arouter-api-key",
            name="ARouter API Key",
            connection=_AROUTER,
            parameters_model=ARouterParameters,
            secrets_mapping_template={"apiKey": "AROUTER_API_KEY"},
        ),
        # `seed`: /v1/keys with `id` and `spending_limit`; `openrouter-like`: /api/v1/keys with `hash` and
        # `limit` (the public variant, ARouter §6).
        wire=WireChoice(
            Setting("arouter_api_style", "seed"),
            {"seed": arouter.provider, "openrouter-like": arouter.openrouter_like},
        ),
        base_url=Setting("arouter_base_url", "https://api.arouter.ai"),
    ),
)

_BY_APP = {e.app.slug: e for e in ENTRIES}
_BY_TYPE = {e.rotation.slug: e for e in ENTRIES}


def apps() -> list[ConnectionApp]:
    return [e.app for e in ENTRIES]


def app(slug: str) -> ConnectionApp | None:
    entry = _BY_APP.get(slug)
    return entry.app if entry else None


def app_name(slug: str) -> str:
    """Infisical's display name of an app, or the slug itself for an app keyturn does not know."""
    entry = _BY_APP.get(slug)
    return entry.app.name if entry else slug


def rotation_types() -> list[RotationType]:
    return [e.rotation for e in ENTRIES]


def rotation_type(slug: str) -> RotationType | None:
    entry = _BY_TYPE.get(slug)
    return entry.rotation if entry else None


# --- what providers are handed ---------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """A provider's wire client with its base URL and the shared HTTP client, ready to call."""

    app: str  # the app's slug: the `provider` label of the request metrics
    provider: Provider
    base_url: str
    client: Http = field(repr=False)

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        """Every call to the provider, counted and timed as `operation` (create, get, list, delete, verify)."""
        return metrics.provider_call(self.app, operation, call)

    def validate_connection(self, credentials: dict[str, Any]) -> None:
        self._call("verify", lambda: self.provider.validate_connection(self.client, self.base_url, credentials))

    def mint(
        self,
        credentials: dict[str, Any],
        *,
        name: str,
        parameters: dict[str, Any],
        expires_at: datetime | None = None,
    ) -> MintedKey:
        return self._call(
            "create",
            lambda: self.provider.mint(
                self.client, self.base_url, credentials, name=name, parameters=parameters, expires_at=expires_at
            ),
        )

    def verify(self, api_key: str) -> None:
        self._call("verify", lambda: self.provider.verify(self.client, self.base_url, api_key))

    def revoke(self, credentials: dict[str, Any], key_id: str) -> bool:
        return self._call("delete", lambda: self.provider.revoke(self.client, self.base_url, credentials, key_id))

    def sees_key(self, credentials: dict[str, Any], key_id: str) -> bool:
        return self._call("get", lambda: self.provider.sees_key(self.client, self.base_url, credentials, key_id))

    def list_keys(self, credentials: dict[str, Any]) -> list[ListedKey]:
        return self._call("list", lambda: self.provider.list_keys(self.client, self.base_url, credentials))

    def key_usage(self, credentials: dict[str, Any], key_id: str) -> KeyUsage | None:
        return self._call("get", lambda: self.provider.key_usage(self.client, self.base_url, credentials, key_id))


def wire(app_slug: str, settings: Settings | None = None) -> Wire | None:
    """The wire client of an app as configured now; None for an app keyturn does not know."""
    entry = _BY_APP.get(app_slug)
    if entry is None:
        return None
    settings = settings or get_settings()
    return Wire(
        app=app_slug,
        provider=entry.provider(settings),
        base_url=entry.base_url.value(settings).rstrip("/"),
        client=http_client(settings),
    )


def check_settings(settings: Settings) -> None:
    """Refuse, at start-up and in one line, a provider setting that cannot work."""
    for entry in ENTRIES:
        entry.provider(settings)


_client_lock = threading.Lock()
_client: ProviderHttp | None = None
_client_timeout: float | None = None


def http_client(settings: Settings | None = None) -> ProviderHttp:
    """The process-wide client (connection pooling); rebuilt only if the configured timeout changes."""
    global _client, _client_timeout
    timeout = (settings or get_settings()).http_timeout_seconds
    with _client_lock:
        if _client is None or _client_timeout != timeout:
            _client = ProviderHttp(timeout)
            _client_timeout = timeout
        return _client
