"""HTTP plumbing every provider client shares: headers, credentials, time and Retry-After parsing, error
text scrubbing, and the mapping of network failures to ProviderError. Wire formats stay in each provider."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.providers.base import ProviderError

MAX_MESSAGE = 300
# Anything that looks like a key or a bearer token is cut from provider text before it reaches a message.
SECRETISH = re.compile(r"(lr_[A-Za-z0-9]+_[A-Za-z0-9]{6,}|sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+|[A-Fa-f0-9]{40,})")
# Failures before the request left us: nothing can have happened upstream, so even a create is unambiguous.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL)
# 4xx answers a proxy can give after it forwarded the request: 408 (it timed out waiting for the upstream) and
# 499 (the request was cancelled mid-flight). The provider may have acted, so a create answered so is ambiguous.
# Other 4xx (409, 425, 429, ...) are the provider's own refusal before acting, per both providers' specs.
MAYBE_FORWARDED_4XX = frozenset({408, 499})


def server_side(status: int) -> bool:
    """A failure on the provider's or a proxy's side, possibly after the request was forwarded: a later retry
    may succeed, and a create answered so may still have made the key (it must be reconciled)."""
    return status >= 500 or status in MAYBE_FORWARDED_4XX


def bearer_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept": "application/json"}


def credential_key(credentials: dict[str, Any], provider_name: str) -> str:
    """The connection's `apiKey`, trimmed; a ProviderError if it is missing."""
    key = credentials.get("apiKey") if isinstance(credentials, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise ProviderError(f"{provider_name} connection has no API key")
    return key.strip()


def redact(text: str) -> str:
    return SECRETISH.sub("[redacted]", text).strip()[:MAX_MESSAGE]


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def json_object(response: httpx.Response) -> dict | None:
    body = json_body(response)
    return body if isinstance(body, dict) else None


def observed_now() -> datetime:
    """When a usage reading arrived; a module function so that tests can pin it."""
    return datetime.now(UTC)


def expiry_text(moment: datetime) -> str:
    """An expiry as `YYYY-MM-DDTHH:MM:SSZ`: UTC, whole seconds (some providers reject minute precision)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an expiry must be an aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_number(value: Any) -> float | None:
    """A reported spend: a finite number >= 0 (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def retry_after_seconds(headers: httpx.Headers, *, now: datetime | None = None) -> float | None:
    """`retry-after-ms`, else `Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def network_error(prefix: str, provider_name: str, exc: httpx.HTTPError, *, on_create: bool = False) -> ProviderError:
    """A request that got no answer: retryable; on a create, ambiguous unless it never left us."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return ProviderError(
        f"{prefix}: request to {provider_name} {kind} ({type(exc).__name__})",
        retryable=True,
        ambiguous=on_create and not isinstance(exc, NEVER_SENT),
    )
