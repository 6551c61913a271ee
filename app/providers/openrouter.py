"""OpenRouter's key-management API (`/keys`, `/key`), spoken over the caller's HTTP client (app.providers.http).

Wire contract: docs/contracts.md, "OpenRouter keys API". This module never retries or sleeps: it reports, in
ProviderError, whether a retry could help and whether a failed create may still have made a key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from app.providers.base import KeyUsage, ListedKey, MintedKey, ProviderError
from app.providers.http import Http
from app.providers.wire import (
    bearer_headers,
    credential_key,
    expiry_text,
    json_body,
    json_object,
    network_error,
    observed_now,
    parse_time,
    redact,
    retry_after_seconds,
    server_side,
    usage_number,
)

PAGE_SIZE = 100
# A provider that ignores `offset` must not loop us forever. Past this many pages the listing fails: a partial
# list would let reconciliation conclude that a key it did not reach does not exist.
MAX_PAGES = 1000


def _error_text(response: httpx.Response) -> str:
    """OpenRouter's `error.message`, or a short fallback naming the status."""
    body = json_body(response)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"].strip():
            return redact(error["message"])
        if isinstance(body.get("message"), str) and body["message"].strip():
            return redact(body["message"])
    return f"HTTP {response.status_code}"


def _status_error(prefix: str, response: httpx.Response, *, on_create: bool = False) -> ProviderError:
    status = response.status_code
    retryable = status == 429 or server_side(status)
    return ProviderError(
        f"{prefix}: {_error_text(response)}",
        status=status,
        retryable=retryable,
        ambiguous=on_create and server_side(status),
        retry_after=retry_after_seconds(response.headers) if retryable else None,
    )


def _management_headers(credentials: dict[str, Any]) -> dict[str, str]:
    return bearer_headers(credential_key(credentials, "OpenRouter"))


def create_body(name: str | None, parameters: dict[str, Any], expires_at: datetime | None = None) -> dict[str, Any]:
    """The POST /keys body: `name`, plus each optional limit field and `expires_at` only when it is set."""
    body: dict[str, Any] = {"name": name}
    if expires_at is not None:
        body["expires_at"] = expiry_text(expires_at)
    for ours, theirs in (
        ("limit", "limit"),
        ("limitReset", "limit_reset"),
        ("includeByokInLimit", "include_byok_in_limit"),
    ):
        value = (parameters or {}).get(ours)
        if value is not None:
            body[theirs] = value
    return body


class OpenRouterProvider:
    supports_expiry = True

    def validate_connection(self, client: Http, base_url: str, credentials: dict[str, Any]) -> None:
        prefix = "Failed to validate OpenRouter connection"
        try:
            response = client.get(f"{base_url}/keys", headers=_management_headers(credentials))
        except httpx.HTTPError as exc:
            raise network_error(prefix, "OpenRouter", exc) from None
        if response.status_code != 200:
            raise _status_error(prefix, response)
        if json_object(response) is None:
            raise ProviderError(f"{prefix}: response is not a JSON object", status=200)

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
        prefix = "Failed to create OpenRouter API key"
        body = create_body(name or (parameters or {}).get("name"), parameters, expires_at)
        try:
            response = client.post(f"{base_url}/keys", headers=_management_headers(credentials), json=body)
        except httpx.HTTPError as exc:
            raise network_error(prefix, "OpenRouter", exc, on_create=True) from None
        if response.status_code != 201:
            if 200 <= response.status_code < 300:
                # The provider says it worked but not in the agreed way: a key may exist, reconcile it.
                raise ProviderError(
                    f"{prefix}: unexpected status {response.status_code}", status=response.status_code, ambiguous=True
                )
            raise _status_error(prefix, response, on_create=True)
        payload = json_object(response) or {}
        data = payload.get("data")
        key = payload.get("key")
        key_hash = data.get("hash") if isinstance(data, dict) else None
        if not (isinstance(key, str) and key and isinstance(key_hash, str) and key_hash):
            raise ProviderError(
                "Invalid response from OpenRouter: missing 'key' or 'hash'.", status=201, ambiguous=True
            )
        return MintedKey(key_id=key_hash, api_key=key)

    def verify(self, client: Http, base_url: str, api_key: str) -> None:
        prefix = "OpenRouter API key verification failed"
        try:
            response = client.get(f"{base_url}/key", headers=bearer_headers(api_key))
        except httpx.HTTPError as exc:
            raise network_error(prefix, "OpenRouter", exc) from None
        if not 200 <= response.status_code < 300:
            raise _status_error(prefix, response)

    def revoke(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> bool:
        prefix = "Failed to delete OpenRouter API key"
        try:
            response = client.delete(
                f"{base_url}/keys/{quote(key_id, safe='')}", headers=_management_headers(credentials)
            )
        except httpx.HTTPError as exc:
            raise network_error(prefix, "OpenRouter", exc) from None
        if response.status_code == 404:
            return False  # unknown to these credentials: gone, or another account's
        if 200 <= response.status_code < 300:
            return True
        raise _status_error(prefix, response)

    def sees_key(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> bool:
        """`GET /keys/{hash}`: 200 sees it, 404 does not (OpenRouter §6)."""
        return self._get_key(client, base_url, credentials, key_id, "Failed to get OpenRouter API key") is not None

    def key_usage(self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str) -> KeyUsage | None:
        """`GET /keys/{hash}`: the key's all-time `usage` in USD credits (OpenRouter §3), and its `last_used_at`
        when the provider reports one. None on 404."""
        data = self._get_key(client, base_url, credentials, key_id, "Failed to read OpenRouter API key usage")
        if data is None:
            return None
        return KeyUsage(
            observed_at=observed_now(),
            usage=usage_number(data.get("usage")),
            last_used_at=parse_time(data.get("last_used_at")),
        )

    def _get_key(
        self, client: Http, base_url: str, credentials: dict[str, Any], key_id: str, prefix: str
    ) -> dict[str, Any] | None:
        """The key object of `GET /keys/{hash}`, or None on 404."""
        try:
            response = client.get(f"{base_url}/keys/{quote(key_id, safe='')}", headers=_management_headers(credentials))
        except httpx.HTTPError as exc:
            raise network_error(prefix, "OpenRouter", exc) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _status_error(prefix, response)
        data = (json_object(response) or {}).get("data")
        if not isinstance(data, dict) or data.get("hash") != key_id:
            raise ProviderError(f"{prefix}: response does not describe the key", status=200, retryable=True)
        return data

    def list_keys(self, client: Http, base_url: str, credentials: dict[str, Any]) -> list[ListedKey]:
        prefix = "Failed to list OpenRouter API keys"
        headers = _management_headers(credentials)
        seen: dict[str, ListedKey] = {}
        for page in range(MAX_PAGES):
            try:
                response = client.get(
                    f"{base_url}/keys", headers=headers, params={"include_disabled": "true", "offset": page * PAGE_SIZE}
                )
            except httpx.HTTPError as exc:
                raise network_error(prefix, "OpenRouter", exc) from None
            if response.status_code != 200:
                raise _status_error(prefix, response)
            items = (json_object(response) or {}).get("data")
            if not isinstance(items, list):
                raise ProviderError(f"{prefix}: response has no 'data' list", status=200, retryable=True)
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("hash"), str):
                    # Keys can shift between pages while we read; the first sighting wins.
                    seen.setdefault(
                        item["hash"],
                        ListedKey(
                            key_id=item["hash"],
                            name=item["name"] if isinstance(item.get("name"), str) else "",
                            created_at=parse_time(item.get("created_at")),
                            disabled=bool(item.get("disabled", False)),
                        ),
                    )
            if len(items) < PAGE_SIZE:
                return list(seen.values())
        raise ProviderError(f"{prefix}: more than {MAX_PAGES} pages", status=200, retryable=True)


provider = OpenRouterProvider()
