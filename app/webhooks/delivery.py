"""One POST of one body to one webhook URL: the address checked after resolving and then connected to, the exact
bytes signed, a 10 s timeout, no redirects followed. Shared by the worker's sender and W5's test."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import httpx

from app.webhooks import bodies, targets

log = logging.getLogger("keyturn.webhooks")

TIMEOUT_SECONDS = 10.0
USER_AGENT = "keyturn-webhooks"

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """One client per process: keeps connections to receivers open between deliveries. `trust_env=False`: no proxy
    from the environment, which would connect somewhere else than the address checked."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)
        return _client


@dataclass(frozen=True)
class Outcome:
    """`error` is None on a 2xx. It never holds the URL (a Slack URL is a credential) or the receiver's body."""

    status_code: int | None
    error: str | None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def post(
    url: str, body: str, *, secret_key: str | None, event_id: str, timestamp_ms: int, allow_private: bool
) -> Outcome:
    try:
        target = targets.parse(url)
        address = targets.checked_address(target, allow_private=allow_private)
    except targets.RefusedTarget as exc:
        return Outcome(None, f"Webhook URL is not allowed: {exc.reason}")
    original = httpx.URL(url)
    headers = {
        # The name, not the address, as the receiver (and a virtual host in front of it) expects.
        "Host": original.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        bodies.EVENT_ID_HEADER: event_id,
    }
    if secret_key:
        headers[bodies.SIGNATURE_HEADER] = bodies.signature(body, secret_key, timestamp_ms)
    # Connect to the checked address; TLS still checks the certificate against the host name (SNI).
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        response = client().post(
            original.copy_with(host=str(address)), content=body.encode(), headers=headers, extensions=extensions
        )
    except httpx.TimeoutException:
        return Outcome(None, f"timed out after {TIMEOUT_SECONDS:g} s")
    except httpx.ConnectError:
        return Outcome(None, "could not connect")
    except httpx.HTTPError as exc:
        return Outcome(None, f"request failed ({type(exc).__name__})")
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    if response.is_redirect:
        return Outcome(response.status_code, f"redirects are not followed (status code {response.status_code})")
    return Outcome(
        response.status_code,
        f"Request failed with status code {response.status_code}",
        _retry_after(response.headers.get("retry-after")),
    )


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff alone decides
