"""X-Forwarded-For is believed only from the proxies named in KEYTURN_FORWARDED_ALLOW_IPS (issue 10 B1).

uvicorn's own default trusts it from 127.0.0.1, so any local client could claim an allowed address.
A real `keyturn serve` process is started, as users run it."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import ROOT, keyturn_server

ADMIN_TOKEN = "f" * 40
ALLOWED = "10.9.9.9"


@pytest.fixture(params=[None, "127.0.0.1"], ids=["no-proxy", "proxy-127.0.0.1"])
def server(request, tmp_path):
    env = {
        "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_WORKER": "off",
        "KEYTURN_CLIENT_SECRET_HASH_COST": "low",
        "KEYTURN_FORWARDED_ALLOW_IPS": request.param,
    }
    with keyturn_server(env, ROOT) as (base, _process):
        yield base, request.param is not None


def _machine_allowed_only_from(admin: httpx.Client, ip: str) -> tuple[str, str]:
    identity = admin.post("/api/v1/identities", json={"name": "billing-api"}).json()["identity"]["id"]
    ua = f"/api/v1/auth/universal-auth/identities/{identity}"
    trusted = [{"ipAddress": f"{ip}/32"}]
    response = admin.post(ua, json={"clientSecretTrustedIps": trusted, "accessTokenTrustedIps": trusted})
    assert response.status_code == 200, response.text
    client_id = response.json()["identityUniversalAuth"]["clientId"]
    secret = admin.post(f"{ua}/client-secrets", json={}).json()["clientSecret"]
    return client_id, secret


def test_x_forwarded_for_counts_only_from_a_named_proxy(server):
    base, behind_proxy = server
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        client_id, secret = _machine_allowed_only_from(admin, ALLOWED)
    login = httpx.post(
        f"{base}/api/v1/auth/universal-auth/login",
        json={"clientId": client_id, "clientSecret": secret},
        headers={"X-Forwarded-For": ALLOWED},
    )
    if behind_proxy:
        assert login.status_code == 200, login.text  # the named proxy vouches for 10.9.9.9
    else:
        assert login.status_code == 403, login.text  # the request really comes from 127.0.0.1
