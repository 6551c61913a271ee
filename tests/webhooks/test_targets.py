"""Which addresses a webhook may reach: link-local and metadata never, private and loopback only when allowed."""

from __future__ import annotations

import ipaddress

import pytest

from app.webhooks import targets

ALWAYS_REFUSED = ["169.254.169.254", "169.254.1.1", "fe80::1", "0.0.0.0", "224.0.0.1", "::ffff:169.254.169.254"]
PRIVATE = ["10.0.0.1", "10.255.255.254", "172.16.0.1", "192.168.1.1", "127.0.0.1", "::1", "fd00::1", "100.64.0.1"]
PUBLIC = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_link_local_metadata_and_non_unicast_are_always_refused(address, allow_private):
    assert targets.refusal(ipaddress.ip_address(address), allow_private=allow_private) is not None


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_are_refused_unless_allowed(address):
    assert "KEYTURN_WEBHOOK_ALLOW_PRIVATE" in targets.refusal(ipaddress.ip_address(address), allow_private=False)
    assert targets.refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert targets.refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "/relative", "http://", "http://user:pw@example.com/", "http://[::1/", "not a url"]
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(targets.RefusedTarget):
        targets.check_at_create(url, allow_private=True)


def test_a_name_is_checked_by_what_it_resolves_to():
    """`localhost` resolves to loopback: refused at create and at send time, whatever the URL looks like."""
    with pytest.raises(targets.RefusedTarget, match="loopback"):
        targets.check_at_create("http://localhost:9/hook", allow_private=False)
    with pytest.raises(targets.RefusedTarget, match="loopback"):
        targets.checked_address(targets.parse("http://localhost:9/hook"), allow_private=False)
    assert targets.checked_address(targets.parse("http://localhost:9/"), allow_private=True).is_loopback


def test_a_name_that_does_not_resolve_yet_is_accepted_at_create_but_not_sent_to():
    url = "https://no-such-host.invalid/hook"
    targets.check_at_create(url, allow_private=False)
    with pytest.raises(targets.RefusedTarget, match="does not resolve"):
        targets.checked_address(targets.parse(url), allow_private=False)
