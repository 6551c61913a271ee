"""ARouter's key API (`/v1/keys`, verification by `/v1/models`), spoken over the caller's HTTP client
(app.providers.http).

Wire contract: docs/contracts.md, ARouter §1–5, parsed leniently per ARouter §6 because public ARouter
material shows other shapes (`data.hash`, `raw_key`, lists under `keys`, `limit`). Paths and the limit
field are constructor options so the OpenRouter-like variant is one instance away. ARouter's key API has no
expiry (ARouter §3.1), so a mint asked for one fails before any request. This module never
retries or sleeps: ProviderError says whether a retry could help and whether a failed create may
still have made a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from app.providers.base import KeyUsage, ListedKey, MintedKey, ProviderError
from app.providers.http import Http
from app.providers.wire import (
    bearer_headers,
    credential_key,
    json_body,
    network_error,
    observed_now,
    parse_time,
    redact,
    retry_after_seconds,
    server_side,
    usage_number,
)

MAX_PAGES = 1000  # a provider that hands back endless tokens must not loop us forever
_NEXT_TOKEN_FIELDS = ("next_page_token", "nextPageToken", "next_cursor", "nextCursor")


# --- lenient parsing ---------------------------------------------------------------------------


def _first_str(*candidates: Any) -> str | None:
    return next((c for c in candidates if isinstance(c, str) and c), None)


def _minted_fields(payload: Any) -> tuple[str | None, str | None]:
    """(key id, plaintext key) from a create response: top-level `id`/`key`, or `data.*`, or `hash`/`raw_key`."""
    if not isinstance(payload, dict):
        return None, None
    raw_data = payload.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    key_id = _first_str(payload.get("id"), data.get("id"), payload.get("hash"), data.get("hash"))
    api_key = _first_str(payload.get("key"), payload.get("raw_key"), data.get("key"), data.get("raw_key"))
    return key_id, api_key


def _list_items(payload: Any) -> list | None:
    """The keys of one list page: under `data`, or `keys`, or a bare array."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for field in ("data", "keys"):
            if isinstance(payload.get(field), list):
                return payload[field]
    return None


def _next_token(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    places = [payload] + [payload[k] for k in ("pagination", "meta") if isinstance(payload.get(k), dict)]
    return next((t for p in places for f in _NEXT_TOKEN_FIELDS if (t := _first_str(p.get(f)))), None)


def _item_id(item: Any) -> str | None:
    return _first_str(item.get("id"), item.get("hash")) if isinstance(item, dict) else None


def _listed(item: Any) -> ListedKey | None:
    key_id = _item_id(item)
    if key_id is None:
        return None
    name = item.get("name")
    return ListedKey(
        key_id=key_id,
        name=name if isinstance(name, str) else "",
        created_at=parse_time(item.get("created_at")),
        disabled=item.get("disabled") is True,
    )


# --- errors ------------------------------------------------------------------------------------


def _error_detail(response: httpx.Response) -> tuple[str, str | None]:
    """(message, code): `error.message`, then `message`; `code` may be a string or an integer."""
    body = json_body(response)
    message, code = None, None
    if isinstance(body, dict):
        raw_error = body.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        message = _first_str(
            error.get("message"), body.get("message"), body.get("error") if isinstance(body.get("error"), str) else None
        )
        raw_code = error.get("code", body.get("code"))
        code = str(raw_code) if isinstance(raw_code, str | int) and not isinstance(raw_code, bool) else None
    return (redact(message) if message else f"HTTP {response.status_code}"), code


def _status_error(prefix: str, response: httpx.Response, *, on_create: bool = False) -> ProviderError:
    status = response.status_code
    message, code = _error_detail(response)
    upstream_side = server_side(status)
    # An exhausted quota will not come back by waiting a few seconds; a rate limit will.
    retryable = upstream_side or (status == 429 and code != "quota_exceeded")
    return ProviderError(
        f"{prefix}: {message}",
        status=status,
        retryable=retryable,
        ambiguous=on_create and upstream_side,
        retry_after=retry_after_seconds(response.headers) if status == 429 or upstream_side else None,
    )


def _admin_headers(credentials: dict[str, Any]) -> dict[str, str]:
    return bearer_headers(credential_key(credentials, "ARouter"))


def _param(parameters: dict[str, Any], camel: str, snake: str) -> Any:
    value = (parameters or {}).get(camel)
    return (parameters or {}).get(snake) if value is None else value


class ARouterProvider:
    supports_expiry = False  # no expiry field in either contract (ARouter §3.1, ARouter §6)

    def __init__(
        self, *, keys_path: str = "/v1/keys", models_path: str = "/v1/models", limit_field: str = "spending_limit"
    ):
        self.keys_path = keys_path
        self.models_path = models_path
        self.limit_field = limit_field  # "spending_limit" (seed) or "limit" (variant); never both

    def url(self, base_url: str, path: str) -> str:
        """`base_url` + `path`, tolerating a base URL that already ends in the path's version prefix."""
        base = base_url.rstrip("/")
        for prefix in ("/api/v1", "/v1"):
            if base.endswith(prefix) and path.startswith(prefix + "/"):
                return base[: -len(prefix)] + path
        return base + path

    def create_body(self, name: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
        """`name`, plus `allowed_providers` and the spending limit only when they are set."""
        body: dict[str, Any] = {"name": name}
        providers = _param(parameters, "allowedProviders", "allowed_providers")
        if providers is not None:
            body["allowed_providers"] = list(providers)
        limit = _param(parameters, "spendingLimit", "spending_limit")
        if limit is not None:
            body[self.limit_field] = limit
        return body

    def validate_connection(self, client: Http, base_url: str, credentials: dict[str, Any]) -> None:
        prefix = "Failed to validate ARouter connection"
        try:
            response = client.get(self.url(base_url, self.keys_path), headers=_admin_headers(credentials))
        except httpx.HTTPError as exc:
            raise network_error(prefix, "ARouter", exc) from None
        if response.status_code != 200:
            raise _status_error(prefix, response)
        if _list_items(json_body(response)) is None:
            raise ProviderError(f"{prefix}: response holds no list of keys", status=200)

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
        prefix = "Failed to create ARouter API key"
        if expires_at is not None:
            # A key minted without its expiry would outlive what the caller asked for; nothing was sent.
            raise ProviderError(f"{prefix}: ARouter keys cannot be given an expiry")
        body = self.create_body(name or (parameters or {}).get("name"), parameters)
        try:
            response = client.post(self.url(base_url, self.keys_path), headers=_admin_headers(credentials), json=body)
        except httpx.HTTPError as exc:
            raise network_error(prefix, "ARouter", exc, on_create=True) from None
        if response.status_code not in (200, 201):
            if 200 <= response.status_code < 300:
                # It says it worked, but not in a way we can read: a key may exist, reconcile it.
                raise ProviderError(
                    f"{prefix}: unexpected status {response.status_code}", status=response.status_code, ambiguous=True
                )
            raise _status_error(prefix, response, on_create=True)
        key_id, api_key = _minted_fields(json_body(response))
        if key_id is None or api_key is None:
            raise ProviderError(
                "Invalid response from ARouter: missing 'key' or 'id'.", status=response.status_code, ambiguous=True
            )
        return MintedKey(key_id=key_id, api_key=api_key)

    def verify(self, client: Http, base_url: str, api_key: str) -> None:
        prefix = "ARouter API key verification failed"
        try:
            response = client.get(self.url(base_url, self.models_path), headers=bearer_headers(api_key))
        except httpx.HTTPError as exc:
            raise network_error(prefix, "ARouter", exc) from None
        if not 200 <= response.status_code < 300:
            raise _status_error(prefix, response)

    def revoke(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> bool:
        prefix = "Failed to delete ARouter API key"
        url = self.url(base_url, f"{self.keys_path}/{quote(key_id, safe='')}")
        try:
            response = client.delete(url, headers=_admin_headers(credentials))
        except httpx.HTTPError as exc:
            raise network_error(prefix, "ARouter", exc) from None
        if response.status_code == 404:
            return False  # unknown to these credentials: gone, or another account's
        if 200 <= response.status_code < 300:
            return True  # 200, 202, 204 with or without a body
        raise _status_error(prefix, response)

    def sees_key(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> bool:
        """The seed contract has no get-one-key route (ARouter §2): the key is seen if the listing shows it. The
        listing stops at the page that does."""
        return any(_item_id(item) == key_id for item in self._items(client, base_url, credentials))

    def list_keys(self, client: Http, base_url: str, credentials: dict[str, Any]) -> list[ListedKey]:
        seen: dict[str, ListedKey] = {}
        for listed in filter(None, map(_listed, self._items(client, base_url, credentials))):
            seen.setdefault(listed.key_id, listed)  # pages can shift mid-scan; first sighting wins
        return list(seen.values())

    def key_usage(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> KeyUsage | None:
        """The key's `last_used_at` from the listing (ARouter §4; there is no get-one-key route), and `usage` when
        the listing reports one (the public variant does). None if the listing does not show the key."""
        for item in self._items(client, base_url, credentials):
            if _item_id(item) == key_id:
                return KeyUsage(
                    observed_at=observed_now(),
                    usage=usage_number(item.get("usage")),
                    last_used_at=parse_time(item.get("last_used_at")),
                )
        return None

    def _items(self, client: Http, base_url: str, credentials: dict[str, Any]) -> Iterator[Any]:
        """Every list item, page after page, as the provider sent it; ProviderError rather than a silently
        partial list."""
        prefix = "Failed to list ARouter API keys"
        headers = _admin_headers(credentials)
        token: str | None = None
        tokens: set[str] = set()
        for _ in range(MAX_PAGES):
            try:
                response = client.get(
                    self.url(base_url, self.keys_path), headers=headers, params={"page_token": token} if token else None
                )
            except httpx.HTTPError as exc:
                raise network_error(prefix, "ARouter", exc) from None
            if response.status_code != 200:
                raise _status_error(prefix, response)
            payload = json_body(response)
            items = _list_items(payload)
            if items is None:
                raise ProviderError(f"{prefix}: response holds no list of keys", status=200, retryable=True)
            yield from items
            token = _next_token(payload)
            if token is None:
                return
            if token in tokens:
                # An incomplete list could hide a key from reconciliation; fail and let the caller retry.
                raise ProviderError(f"{prefix}: pagination token repeated", status=200, retryable=True)
            tokens.add(token)
        raise ProviderError(f"{prefix}: more than {MAX_PAGES} pages", status=200, retryable=True)


provider = ARouterProvider()
# The public OpenRouter-like variant (ARouter §6), for deployments whose ARouter speaks it.
openrouter_like = ARouterProvider(keys_path="/api/v1/keys", limit_field="limit")
