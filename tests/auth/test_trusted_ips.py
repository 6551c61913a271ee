"""Trusted IP lists: validation, the response form and the check."""

from __future__ import annotations

import pytest

from app.auth.trusted_ips import ANYWHERE, allows, describe, parse_network


@pytest.mark.parametrize(
    ("entries", "ip", "expected"),
    [
        (ANYWHERE, "203.0.113.7", True),
        (ANYWHERE, "testclient", True),
        ([{"ipAddress": "10.0.0.0/8"}], "10.9.8.7", True),
        ([{"ipAddress": "10.0.0.0/8"}], "11.0.0.1", False),
        ([{"ipAddress": "10.0.0.0/8"}], "::ffff:10.1.1.1", True),
        ([{"ipAddress": "10.0.0.0/8"}], None, False),
        ([{"ipAddress": "203.0.113.7"}], "203.0.113.7", True),
        ([{"ipAddress": "2001:db8::/32"}], "2001:db8::1", True),
        ([{"ipAddress": "2001:db8::/32"}], "10.0.0.1", False),
    ],
)
def test_allows(entries, ip, expected):
    assert allows(entries, ip) is expected


def test_describe():
    assert describe({"ipAddress": "10.1.2.3/8"}) == {"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8}
    assert describe({"ipAddress": "::/0"}) == {"ipAddress": "::", "type": "ipv6", "prefix": 0}
    assert describe({"ipAddress": "203.0.113.7"}) == {"ipAddress": "203.0.113.7", "type": "ipv4"}


@pytest.mark.parametrize("bad", ["", "nope", "10.0.0.0/33", "1.2.3"])
def test_invalid(bad):
    with pytest.raises(ValueError, match="not a valid IPv4, IPv6, or CIDR block"):
        parse_network(bad)
