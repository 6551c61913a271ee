"""Who may scrape metrics: anyone on this machine while keyturn listens on loopback alone and no metrics token is
set; otherwise only a caller presenting KEYTURN_METRICS_TOKEN as a bearer token.

Metrics name rotations and projects, so a scrape must not be a way to learn them from outside. A request that came
through a proxy (a declared one, or any Forwarded / X-Forwarded-For header) is treated as coming from outside, as
it may have: a proxy on this machine can carry the world to a loopback listener."""

from __future__ import annotations

import hmac
import ipaddress

from app.config import Settings

FORWARDING_HEADERS = ("forwarded", "x-forwarded-for")
NO_TOKEN_SET = (
    "Metrics need a bearer token when keyturn listens beyond loopback or behind a proxy: set KEYTURN_METRICS_TOKEN"
)
WRONG_TOKEN = "Metrics need the bearer token set in KEYTURN_METRICS_TOKEN"


def listens_on_loopback_only(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def refusal(settings: Settings, authorization: str | None, forwarded: bool) -> str | None:
    """None when the scrape may go ahead, else why not (a message for the 401)."""
    token = settings.metrics_token
    if token is None:
        if listens_on_loopback_only(settings.host) and settings.forwarded_allow_ips is None and not forwarded:
            return None
        return NO_TOKEN_SET
    scheme, _, presented = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected):
        return None
    return WRONG_TOKEN
