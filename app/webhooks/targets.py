"""Which addresses a webhook may be sent to: checked when it is created and again, after resolving its host, before
every delivery, so a name that later resolves somewhere else (DNS rebinding) is still caught. The request then goes
to the address that was checked, not to a second resolution.

Always refused: link-local (169.254.0.0/16, fe80::/10, which holds the cloud metadata address 169.254.169.254),
unspecified, multicast and reserved addresses. Refused unless KEYTURN_WEBHOOK_ALLOW_PRIVATE=true: loopback, private
(10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10) and the other non-global ranges."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.errors import ValidationFailure

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
METADATA = ipaddress.ip_address("169.254.169.254")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNRESOLVED = "its host name does not resolve"


class RefusedTarget(Exception):
    """The URL may not be sent to; `reason` names the rule, never the URL (a Slack URL is a credential)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def as_422(self) -> ValidationFailure:
        return ValidationFailure.one(["webhookUrl"], f"Webhook URL is not allowed: {self.reason}")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (the Host header and the TLS server name)
    port: int


def parse(url: str) -> Target:
    """The URL's scheme, host and port; RefusedTarget unless it is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedTarget("it is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise RefusedTarget("only absolute http and https URLs with a host are allowed")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("credentials in the URL are not allowed; use the secret key to sign instead")
    return Target(scheme, parts.hostname, port or DEFAULT_PORTS[scheme])


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why `address` may not be sent to, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address == METADATA:
        return "the cloud metadata address is never a webhook target"
    if address.is_link_local:
        return "link-local addresses are never webhook targets"
    reserved = address.is_reserved and not (address.is_loopback or address.is_private)  # ::1 is in ::/8
    if address.is_unspecified or address.is_multicast or reserved:
        return f"{address} is not a unicast address"
    if not address.is_global and not allow_private:
        kind = "loopback" if address.is_loopback else "private"
        return f"it resolves to a {kind} address ({address}); set KEYTURN_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(target: Target) -> list[IPAddress]:
    """Every address the host resolves to now (a literal address is itself); RefusedTarget if none."""
    literal = _literal(target.host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise RefusedTarget(UNRESOLVED) from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedTarget(UNRESOLVED)
    return addresses


def checked_address(target: Target, *, allow_private: bool) -> IPAddress:
    """At send time: resolve, refuse if ANY address is refused (a name may mix a public and a private one), and
    return the first, the one to connect to."""
    addresses = resolve(target)
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            raise RefusedTarget(reason)
    return addresses[0]


def check_at_create(url: str, *, allow_private: bool) -> None:
    """At create: the URL's form, and its addresses when the host is a literal or resolves now. A name that does not
    resolve yet is accepted: every delivery checks again before it is sent."""
    try:
        checked_address(parse(url), allow_private=allow_private)
    except RefusedTarget as exc:
        if exc.reason != UNRESOLVED:
            raise
