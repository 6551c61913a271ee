"""Trusted IP lists on universal auth: validation, the parsed response form, and the check."""

from __future__ import annotations

import ipaddress

INVALID_IP = "The IP is not a valid IPv4, IPv6, or CIDR block"
ANYWHERE = [{"ipAddress": "0.0.0.0/0"}, {"ipAddress": "::/0"}]


def parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An address or CIDR block; host bits are dropped (`10.1.2.3/8` is `10.0.0.0/8`)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(INVALID_IP)
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(INVALID_IP) from None


def describe(entry: dict) -> dict:
    """The response form: `{"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8}`; no prefix for one address."""
    raw = entry["ipAddress"]
    network = parse_network(raw)
    out: dict[str, str | int] = {"ipAddress": str(network.network_address), "type": f"ipv{network.version}"}
    if "/" in raw:
        out["prefix"] = network.prefixlen
    return out


def allows(entries: list[dict], client_ip: str | None) -> bool:
    networks = [parse_network(entry["ipAddress"]) for entry in entries]
    if any(network.prefixlen == 0 for network in networks):
        return True  # "anywhere" also admits peers without a parseable address (test clients, UNIX sockets)
    try:
        address = ipaddress.ip_address((client_ip or "").strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == network.version and address in network for network in networks)
