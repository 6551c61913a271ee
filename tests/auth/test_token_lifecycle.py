"""Access-token expiry, renewal, revocation, use limits and login lockout, driven by a frozen clock."""

from __future__ import annotations

from tests.factories import bearer, grant, login, make_machine, token_for

UA = "/api/v1/auth/universal-auth/identities"
RENEW = "/api/v1/auth/token/renew"
REVOKE = "/api/v1/auth/token/revoke"


def _probe(anon, project, token):
    return anon.get(f"/api/v1/projects/{project['id']}", headers=bearer(token))


def _setup(client, anon, project, **ua):
    machine = make_machine(client, ua=ua or {"accessTokenTTL": 3600, "accessTokenMaxTTL": 86400})
    grant(client, project["id"], machine.identity_id, "viewer")
    return machine, token_for(anon, machine)


def test_token_expires_after_ttl(client, anon_client, project, clock):
    _, token = _setup(client, anon_client, project)
    clock.advance(3599)
    assert _probe(anon_client, project, token).status_code == 200
    clock.advance(1)
    expired = _probe(anon_client, project, token)
    assert expired.status_code == 401 and expired.json()["message"] == "Identity access token has expired"


def test_renew_extends_the_same_token_until_max_ttl(client, anon_client, project, clock):
    _, token = _setup(client, anon_client, project, accessTokenTTL=3600, accessTokenMaxTTL=7200)
    clock.advance(3000)
    renewed = anon_client.post(RENEW, json={"accessToken": token})
    assert renewed.status_code == 200, renewed.text
    assert renewed.headers["cache-control"] == "no-store"
    assert renewed.json() == {"accessToken": token, "expiresIn": 3600, "accessTokenMaxTTL": 7200, "tokenType": "Bearer"}
    clock.advance(3000)  # 6000 s after creation: alive only thanks to the renewal
    assert _probe(anon_client, project, token).status_code == 200
    past_max = anon_client.post(RENEW, json={"accessToken": token})
    assert past_max.status_code == 401
    assert past_max.json()["message"] == "Failed to renew MI access token as it would extend past its Max TTL"
    clock.advance(1200)  # 7200 s: max TTL reached
    assert _probe(anon_client, project, token).json()["message"] == "Identity access token has expired"
    late = anon_client.post(RENEW, json={"accessToken": token})
    assert late.json()["message"] == "Failed to renew MI access token due to TTL expiration"


def test_renew_refused_with_default_ttls(client, anon_client, project):
    _, token = _setup(client, anon_client, project, accessTokenTTL=2592000, accessTokenMaxTTL=2592000)
    refused = anon_client.post(RENEW, json={"accessToken": token})
    assert refused.status_code == 401
    assert refused.json()["message"] == "Failed to renew MI access token as it would extend past its Max TTL"


def test_renew_after_ttl_expiry_is_refused(client, anon_client, project, clock):
    _, token = _setup(client, anon_client, project)
    clock.advance(3600)
    refused = anon_client.post(RENEW, data={"accessToken": token})  # form body
    assert refused.status_code == 401
    assert refused.json()["message"] == "Failed to renew MI access token due to TTL expiration"


def test_revoke_stops_the_token_at_once(client, anon_client, project):
    _, token = _setup(client, anon_client, project)
    assert _probe(anon_client, project, token).status_code == 200
    assert anon_client.post(REVOKE, json={"accessToken": token}).status_code == 200
    gone = _probe(anon_client, project, token)
    assert gone.status_code == 401 and gone.json()["message"] == "No identity access token found"
    again = anon_client.post(REVOKE, json={"accessToken": token})
    assert again.status_code == 401 and again.json()["message"] == "No identity access token found"
    assert anon_client.post(RENEW, json={"accessToken": token}).json()["message"] == "No identity access token found"


def test_removing_universal_auth_or_identity_invalidates_tokens(client, anon_client, project):
    machine, token = _setup(client, anon_client, project)
    assert client.delete(f"{UA}/{machine.identity_id}").status_code == 200
    assert _probe(anon_client, project, token).status_code == 401
    assert login(anon_client, machine).status_code == 401

    machine, token = _setup(client, anon_client, project)
    assert client.delete(f"/api/v1/identities/{machine.identity_id}").status_code == 200
    assert _probe(anon_client, project, token).json()["message"] == "No identity access token found"


def test_revoked_client_secret_keeps_issued_tokens(client, anon_client, project):
    machine, token = _setup(client, anon_client, project)
    client.post(f"{UA}/{machine.identity_id}/client-secrets/{machine.client_secret_id}/revoke")
    assert _probe(anon_client, project, token).status_code == 200
    assert login(anon_client, machine).json()["message"] == "Invalid credentials"


def test_token_use_limit_is_exact(client, anon_client, project):
    _, token = _setup(
        client, anon_client, project, accessTokenTTL=3600, accessTokenMaxTTL=7200, accessTokenNumUsesLimit=2
    )
    assert _probe(anon_client, project, token).status_code == 200
    assert _probe(anon_client, project, token).status_code == 200
    spent = _probe(anon_client, project, token)
    assert spent.status_code == 401
    assert spent.json()["message"] == "Identity access token number of uses limit reached"
    renew = anon_client.post(RENEW, json={"accessToken": token})
    assert renew.json()["message"] == "Unable to renew because access token number of uses limit reached"


def test_lockout_after_three_failures_then_unlocks(client, anon_client, clock):
    machine = make_machine(client)
    for _ in range(3):
        failed = login(anon_client, machine, secret="0" * 64)
        assert failed.status_code == 401 and failed.json()["message"] == "Invalid credentials"
    locked = login(anon_client, machine)  # the right secret, but locked
    assert locked.status_code == 401
    assert locked.json()["message"] == "This identity auth method is temporarily locked, please try again later"
    identity = client.get(f"/api/v1/identities/{machine.identity_id}").json()["identity"]
    assert identity["identity"]["activeLockoutAuthMethods"] == ["universal-auth"]
    clock.advance(299)
    assert login(anon_client, machine).status_code == 401
    clock.advance(1)
    assert login(anon_client, machine).status_code == 200
    identity = client.get(f"/api/v1/identities/{machine.identity_id}").json()["identity"]
    assert identity["identity"]["activeLockoutAuthMethods"] == []


def test_failure_counter_resets_after_its_window(client, anon_client, clock):
    machine = make_machine(client)
    login(anon_client, machine, secret="bad")
    login(anon_client, machine, secret="bad")
    clock.advance(30)  # the counter expired: start again from 0
    login(anon_client, machine, secret="bad")
    login(anon_client, machine, secret="bad")
    assert login(anon_client, machine).status_code == 200


def test_success_clears_the_counter(client, anon_client):
    machine = make_machine(client)
    login(anon_client, machine, secret="bad")
    login(anon_client, machine, secret="bad")
    assert login(anon_client, machine).status_code == 200
    login(anon_client, machine, secret="bad")
    login(anon_client, machine, secret="bad")
    assert login(anon_client, machine).status_code == 200


def test_clear_lockouts(client, anon_client):
    machine = make_machine(client)
    assert client.post(f"{UA}/{machine.identity_id}/clear-lockouts").json() == {"deleted": 0}
    for _ in range(3):
        login(anon_client, machine, secret="bad")
    assert login(anon_client, machine).status_code == 401
    assert client.post(f"{UA}/{machine.identity_id}/clear-lockouts").json() == {"deleted": 1}
    assert login(anon_client, machine).status_code == 200


def test_lockout_disabled_never_locks(client, anon_client):
    machine = make_machine(client, ua={"lockoutEnabled": False})
    for _ in range(5):
        login(anon_client, machine, secret="bad")
    assert login(anon_client, machine).status_code == 200


def test_unknown_client_id_counts_nowhere(client, anon_client):
    machine = make_machine(client)
    for _ in range(3):
        anon_client.post(
            "/api/v1/auth/universal-auth/login",
            json={"clientId": "0b6d3e2f-7a1c-4f9e-8d2b-5c4a3e1f0d97", "clientSecret": "bad"},
        )
    assert login(anon_client, machine).status_code == 200
