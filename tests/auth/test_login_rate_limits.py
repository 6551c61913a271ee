"""Login rate limits (issue 10 B2): token buckets per client id and per client IP, answered with 429 and
Retry-After before any database or hash work."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.auth import client_secrets
from tests.factories import assert_rate_limited, login, make_machine

LOGIN = "/api/v1/auth/universal-auth/login"


@pytest.fixture
def settings(settings):
    """Small limits: 2 logins per client id and 3 per address, refilled slowly (one token per 10 s)."""
    return settings.model_copy(
        update={
            "rate_limit_login_client_id_burst": 2,
            "rate_limit_login_client_id_per_second": 0.1,
            "rate_limit_login_ip_burst": 3,
            "rate_limit_login_ip_per_second": 0.1,
        }
    )


@pytest.fixture
def hash_checks(monkeypatch) -> list[str]:
    calls: list[str] = []
    verify = client_secrets.verify

    def counting(stored_hash: str, candidate: str) -> bool:
        calls.append(candidate)
        return verify(stored_hash, candidate)

    monkeypatch.setattr(client_secrets, "verify", counting)
    return calls


def _assert_rate_limited(response, *, limit: int) -> None:
    """The same refusal as a read over its budget, and as Infisical's (consumer §8)."""
    assert_rate_limited(response, limit=limit, longest=10)


def test_logins_over_the_client_id_limit_get_429_before_any_hash_check(client, anon_client, hash_checks):
    machine = make_machine(client)
    assert login(anon_client, machine).status_code == 200
    assert login(anon_client, machine, secret="0" * 64).status_code == 401
    checks = len(hash_checks)
    _assert_rate_limited(login(anon_client, machine), limit=2)  # the right secret, but a third login within the burst
    assert len(hash_checks) == checks  # refused before the hash check
    # The refusal counted nowhere: the lockout saw one failure, so the right secret logs in once the bucket refills.
    identity = client.get(f"/api/v1/identities/{machine.identity_id}").json()["identity"]
    assert identity["identity"]["activeLockoutAuthMethods"] == []


def test_logins_over_the_ip_limit_get_429_whatever_the_client_id(app, hash_checks):
    with TestClient(app, client=("203.0.113.7", 5000), raise_server_exceptions=False) as flooder:
        for n in range(3):
            response = flooder.post(LOGIN, json={"clientId": f"made-up-{n}", "clientSecret": "x" * 64})
            assert response.status_code == 401, response.text
        _assert_rate_limited(flooder.post(LOGIN, json={"clientId": "made-up-3", "clientSecret": "x" * 64}), limit=3)
        assert len(hash_checks) == 3  # the unknown ids each burned one check; the refused one none
    with TestClient(app, client=("203.0.113.8", 5000), raise_server_exceptions=False) as neighbour:
        response = neighbour.post(LOGIN, json={"clientId": "made-up-4", "clientSecret": "x" * 64})
        assert response.status_code == 401  # another address has its own bucket
