"""X-Forwarded-For is believed only from the proxies named in KEYTURN_FORWARDED_ALLOW_IPS (issue 10 B1).

uvicorn's own default trusts it from 127.0.0.1, so any local client could claim an allowed address.
A real `keyturn serve` process is started, as users run it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

ADMIN_TOKEN = "f" * 40
ALLOWED = "10.9.9.9"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=[None, "127.0.0.1"], ids=["no-proxy", "proxy-127.0.0.1"])
def server(request, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_WORKER": "off",
        "KEYTURN_PORT": str(port),
        "KEYTURN_CLIENT_SECRET_HASH_COST": "low",
    }
    if request.param is not None:
        env["KEYTURN_FORWARDED_ALLOW_IPS"] = request.param
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/api/status")
            break
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, "keyturn serve did not start"
            time.sleep(0.2)
    yield base, request.param is not None
    process.terminate()
    process.wait(timeout=30)


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
