"""Every response that carries key material says `Cache-Control: no-store` (issue 10 B9)."""

from __future__ import annotations

from tests.factories import OR, bearer, make_machine, post_rotation
from tests.factories import login as login_as


def test_generated_credentials_login_renew_and_new_client_secrets_are_no_store(
    client, anon_client, project, connection
):
    rotation = post_rotation(client, project, connection)
    response = client.get(f"{OR}/{rotation['id']}/generated-credentials")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"

    machine = make_machine(client, ua={"accessTokenTTL": 60, "accessTokenMaxTTL": 7200})
    login = login_as(anon_client, machine)
    assert login.status_code == 200 and login.headers["cache-control"] == "no-store"
    token = login.json()["accessToken"]
    renew = anon_client.post("/api/v1/auth/token/renew", json={"accessToken": token}, headers=bearer(token))
    assert renew.status_code == 200 and renew.headers["cache-control"] == "no-store"
    secret = client.post(f"/api/v1/auth/universal-auth/identities/{machine.identity_id}/client-secrets", json={})
    assert secret.status_code == 200 and secret.headers["cache-control"] == "no-store"
