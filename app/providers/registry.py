"""Which providers exist: by app-connection slug and by rotation type, plus their base URLs and the
one shared HTTP client of the process."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import httpx

from app.config import Settings, get_settings
from app.providers.arouter import openrouter_like as arouter_openrouter_like
from app.providers.arouter import provider as arouter_provider
from app.providers.base import Provider
from app.providers.openrouter import provider as openrouter_provider


@dataclass(frozen=True)
class App:
    """An app keyturn can connect to. `name` is Infisical's display name, used in messages."""

    slug: str
    name: str
    methods: tuple[str, ...]
    provider: Provider
    base_url_setting: str  # the Settings attribute holding the provider's base URL
    # Wire-format variants chosen by a setting (ARouter's public OpenRouter-like API, its spec §6).
    variants: dict[str, Provider] = field(default_factory=dict)
    variant_setting: str | None = None

    @property
    def rotation_type(self) -> str:
        return self.provider.rotation_type

    def provider_for(self, settings: Settings | None = None) -> Provider:
        if self.variant_setting is None:
            return self.provider
        style = getattr(settings or get_settings(), self.variant_setting)
        return self.variants.get(style, self.provider)


# How Infisical names a connection method in messages ("... with method API Key").
METHOD_NAMES = {"api-key": "API Key"}


APPS: dict[str, App] = {
    entry.slug: entry
    for entry in (
        App("open-router", "OpenRouter", ("api-key",), openrouter_provider, "openrouter_base_url"),
        App(
            "arouter",
            "ARouter",
            ("api-key",),
            arouter_provider,
            "arouter_base_url",
            variants={"openrouter-like": arouter_openrouter_like},
            variant_setting="arouter_api_style",
        ),
    )
}


def app(slug: str) -> App | None:
    return APPS.get(slug)


def base_url(app_slug: str, settings: Settings | None = None) -> str:
    entry = APPS[app_slug]
    return getattr(settings or get_settings(), entry.base_url_setting).rstrip("/")


_client_lock = threading.Lock()
_client: httpx.Client | None = None
_client_timeout: float | None = None


def http_client(settings: Settings | None = None) -> httpx.Client:
    """The process-wide client (connection pooling); rebuilt only if the configured timeout changes."""
    global _client, _client_timeout
    timeout = (settings or get_settings()).http_timeout_seconds
    with _client_lock:
        if _client is None or _client.is_closed or _client_timeout != timeout:
            _client = httpx.Client(timeout=timeout, follow_redirects=False)
            _client_timeout = timeout
        return _client
