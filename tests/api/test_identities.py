"""I1–I5, U1–U4, S1–S5 and A1–A3 against the identity spec's JSON (identity §5–§6), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from app import db
from app.models import AccessToken, ClientSecret
from tests.factories import ADMIN_TOKEN as ADMIN
from tests.factories import bearer, create_identity, login, make_machine, token_for

UA = "/api/v1/auth/universal-auth/identities"


def test_identity_create_get_list_update_delete(client):
    response = client.post(
        "/api/v1/identities",
        json={
            "name": "  billing-api ",
            "organizationId": "anything",
            "role": "no-access",
            "metadata": [{"key": "team", "value": "billing"}],
            "unknown": 1,
        },
    )
    assert response.status_code == 200, response.text
    created = response.json()["identity"]
    assert created["name"] == "billing-api"
    assert created["authMethods"] == [] and created["authMethod"] is None and created["projectId"] is None
    assert created["metadata"][0]["key"] == "team" and uuid.UUID(created["metadata"][0]["id"])
    org_id = client.get("/api/v1/organization").json()["organizations"][0]["id"]
    assert created["orgId"] == org_id

    got = client.get(f"/api/v1/identities/{created['id']}").json()["identity"]
    assert got["identityId"] == created["id"] and got["id"] != created["id"]  # membership-shaped ⚠
    assert got["identity"]["id"] == created["id"]
    assert got["identity"]["activeLockoutAuthMethods"] == []
    assert got["lastLoginTime"] is None and got["roleId"] is None and got["role"] == "no-access"

    listed = client.get("/api/v1/identities?orgId=whatever").json()
    assert listed["totalCount"] == 1 and listed["identities"][0]["identityId"] == created["id"]
    assert listed["identities"][0]["id"] == got["id"]

    patched = client.patch(f"/api/v1/identities/{created['id']}", json={"hasDeleteProtection": True}).json()
    assert patched["identity"]["hasDeleteProtection"] is True and "authMethods" not in patched["identity"]
    refused = client.delete(f"/api/v1/identities/{created['id']}")
    assert refused.status_code == 400 and refused.json()["message"] == "Identity has delete protection"
    assert client.patch(f"/api/v1/identities/{created['id']}", json={"hasDeleteProtection": False}).status_code == 200
    deleted = client.delete(f"/api/v1/identities/{created['id']}").json()["identity"]
    assert deleted["id"] == created["id"] and "metadata" not in deleted
    missing = client.get(f"/api/v1/identities/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["message"] == f"Failed to find identity with ID '{created['id']}'"


def test_identity_validation(client):
    response = client.post("/api/v1/identities", json={"name": "x", "role": "owner"})
    assert response.status_code == 422 and response.json()["message"][0]["path"] == ["role"]
    assert client.post("/api/v1/identities", json={}).status_code == 422
    assert client.get("/api/v1/identities/not-a-uuid").status_code == 422


def test_universal_auth_defaults_and_errors(client):
    identity_id = create_identity(client)
    response = client.post(f"{UA}/{identity_id}")  # no body at all: every default
    assert response.status_code == 200, response.text
    ua = response.json()["identityUniversalAuth"]
    assert ua["accessTokenTTL"] == 2592000 and ua["accessTokenMaxTTL"] == 2592000
    assert ua["accessTokenPeriod"] == 0 and ua["lockoutThreshold"] == 3 and ua["lockoutDurationSeconds"] == 300
    assert ua["clientSecretTrustedIps"] == [
        {"ipAddress": "0.0.0.0", "type": "ipv4", "prefix": 0},
        {"ipAddress": "::", "type": "ipv6", "prefix": 0},
    ]
    assert uuid.UUID(ua["clientId"]).version == 4
    again = client.post(f"{UA}/{identity_id}", json={})
    assert again.status_code == 400
    assert again.json()["message"] == "Failed to add universal auth to already configured identity"

    bad = client.patch(f"{UA}/{identity_id}", json={"accessTokenTTL": 2592001})
    assert bad.status_code == 422
    bad = client.patch(f"{UA}/{identity_id}", json={"accessTokenMaxTTL": 60})
    assert bad.status_code == 422
    assert bad.json()["message"] == [
        {
            "code": "custom",
            "path": ["accessTokenTTL"],
            "message": "Access Token TTL cannot be greater than Access Token Max TTL.",
        }
    ]
    ips = client.patch(
        f"{UA}/{identity_id}",
        json={"accessTokenTrustedIps": [{"ipAddress": "10.1.2.3/8"}, {"ipAddress": "203.0.113.7"}]},
    )
    assert ips.json()["identityUniversalAuth"]["accessTokenTrustedIps"] == [
        {"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8},
        {"ipAddress": "203.0.113.7", "type": "ipv4"},
    ]
    invalid = client.patch(f"{UA}/{identity_id}", json={"clientSecretTrustedIps": [{"ipAddress": "nope"}]})
    assert invalid.status_code == 422
    assert invalid.json()["message"][0]["message"] == "The IP is not a valid IPv4, IPv6, or CIDR block"
    for body in ({"accessTokenTTL": 0}, {"accessTokenPeriod": 60}, {"accessTokenTTL": 1.5}):
        assert client.patch(f"{UA}/{identity_id}", json=body).status_code == 422, body

    other = create_identity(client, "other")
    assert client.get(f"{UA}/{other}").json()["message"] == "The identity does not have universal auth"
    assert client.get(f"{UA}/{uuid.uuid4()}").status_code == 404


def test_client_secret_shown_once_and_stored_hashed(client, app):
    machine = make_machine(client)
    response = client.post(f"{UA}/{machine.identity_id}/client-secrets", json={"description": "prod", "ttl": 60})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    value, data = body["clientSecret"], body["clientSecretData"]
    assert len(value) == 64 and int(value, 16) >= 0
    assert set(data) == {
        "id",
        "identityUAId",
        "description",
        "clientSecretPrefix",
        "clientSecretNumUses",
        "clientSecretNumUsesLimit",
        "clientSecretTTL",
        "isClientSecretRevoked",
        "createdAt",
        "updatedAt",
    }
    assert data["clientSecretPrefix"] == value[:4]
    with Session(db.engine()) as session:
        row = session.get(ClientSecret, data["id"])
        assert row.secret_hash.startswith("$argon2id$") and value not in row.secret_hash

    listed = client.get(f"{UA}/{machine.identity_id}/client-secrets").json()["clientSecretData"]
    assert [s["id"] for s in listed] == [data["id"], machine.client_secret_id]  # newest first
    assert all("clientSecret" not in s for s in listed)
    revoked = client.post(f"{UA}/{machine.identity_id}/client-secrets/{data['id']}/revoke").json()
    assert revoked["clientSecretData"]["isClientSecretRevoked"] is True
    assert client.post(f"{UA}/{machine.identity_id}/client-secrets/{data['id']}/revoke").status_code == 200
    listed = client.get(f"{UA}/{machine.identity_id}/client-secrets").json()["clientSecretData"]
    assert [s["id"] for s in listed] == [machine.client_secret_id]
    assert client.get(f"{UA}/{machine.identity_id}/client-secrets/{data['id']}").json()["clientSecretData"]["id"]
    unknown = uuid.uuid4()
    missing = client.get(f"{UA}/{machine.identity_id}/client-secrets/{unknown}")
    assert missing.status_code == 404 and missing.json()["message"] == f"Client secret with ID '{unknown}' not found"
    other = make_machine(client, "other")
    assert client.get(f"{UA}/{other.identity_id}/client-secrets/{data['id']}").status_code == 404


def test_login_answers_four_fields_and_token_is_hashed(client, anon_client):
    machine = make_machine(client, ua={"accessTokenTTL": 3600, "accessTokenMaxTTL": 86400})
    response = login(anon_client, machine)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"}
    assert body["expiresIn"] == 3600 and body["accessTokenMaxTTL"] == 86400 and body["tokenType"] == "Bearer"
    token = body["accessToken"]
    assert len(token) == 43 and not token.startswith("st.")
    with Session(db.engine()) as session:
        rows = session.exec(select(AccessToken)).all()
        assert len(rows) == 1 and rows[0].token_hash != token and len(rows[0].token_hash) == 64
    got = client.get(f"/api/v1/identities/{machine.identity_id}").json()["identity"]
    assert got["lastLoginAuthMethod"] == "universal-auth" and got["lastLoginTime"]
    assert (
        client.get(f"{UA}/{machine.identity_id}/client-secrets").json()["clientSecretData"][0]["clientSecretNumUses"]
        == 1
    )


def test_login_accepts_form_bodies_and_trims(client, anon_client):
    machine = make_machine(client)
    response = anon_client.post(
        "/api/v1/auth/universal-auth/login",
        data={
            "clientId": f" {machine.client_id} ",
            "clientSecret": machine.client_secret,
            "organizationSlug": "ignored",
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["accessToken"]
    renewed = anon_client.post("/api/v1/auth/token/revoke", data={"accessToken": token})
    assert renewed.status_code == 200 and renewed.json() == {"message": "Successfully revoked access token"}


def test_login_failures(client, anon_client):
    machine = make_machine(client)
    for body in ({"clientId": machine.client_id}, {"clientSecret": "x"}, {}):
        assert anon_client.post("/api/v1/auth/universal-auth/login", json=body).status_code == 422
    unknown = anon_client.post(
        "/api/v1/auth/universal-auth/login", json={"clientId": str(uuid.uuid4()), "clientSecret": machine.client_secret}
    )
    assert unknown.status_code == 401 and unknown.json()["message"] == "Invalid credentials"
    assert unknown.json()["error"] == "UnauthorizedError"
    wrong = login(anon_client, machine, secret="zz")
    assert wrong.status_code == 401 and wrong.json()["message"] == "Invalid credentials"
    assert machine.client_secret not in wrong.text


def test_client_secret_use_limit_and_ttl(client, anon_client, clock):
    machine = make_machine(client)
    limited = client.post(f"{UA}/{machine.identity_id}/client-secrets", json={"numUsesLimit": 1}).json()
    once = {"clientId": machine.client_id, "clientSecret": limited["clientSecret"]}
    assert anon_client.post("/api/v1/auth/universal-auth/login", json=once).status_code == 200
    used_up = anon_client.post("/api/v1/auth/universal-auth/login", json=once)
    assert used_up.status_code == 401
    assert used_up.json()["message"] == "Access denied due to client secret usage limit reached"
    assert (
        client.get(f"{UA}/{machine.identity_id}/client-secrets/{limited['clientSecretData']['id']}").json()[
            "clientSecretData"
        ]["isClientSecretRevoked"]
        is True
    )

    timed = client.post(f"{UA}/{machine.identity_id}/client-secrets", json={"ttl": 60}).json()
    body = {"clientId": machine.client_id, "clientSecret": timed["clientSecret"]}
    assert anon_client.post("/api/v1/auth/universal-auth/login", json=body).status_code == 200
    clock.advance(60)
    expired = anon_client.post("/api/v1/auth/universal-auth/login", json=body)
    assert expired.status_code == 401 and expired.json()["message"] == "Access denied due to expired client secret"


def test_client_secret_trusted_ips_checked_at_login(client, anon_client):
    machine = make_machine(client, ua={"clientSecretTrustedIps": [{"ipAddress": "10.0.0.0/8"}]})
    refused = login(anon_client, machine)  # the test client's peer is not in 10/8
    assert refused.status_code == 403 and refused.json()["error"] == "ForbiddenError"
    assert refused.json()["message"] == "You are not allowed to access this resource from the current IP address"


def test_access_token_trusted_ips_apply_to_existing_tokens(client, anon_client, project):
    machine = make_machine(client)
    token = token_for(anon_client, machine)
    url = f"/api/v1/projects/{project['id']}"
    client.post(
        f"/api/v1/projects/{project['id']}/memberships/identities/{machine.identity_id}", json={"role": "viewer"}
    )
    assert anon_client.get(url, headers=bearer(token)).status_code == 200
    client.patch(f"{UA}/{machine.identity_id}", json={"accessTokenTrustedIps": [{"ipAddress": "192.0.2.0/24"}]})
    refused = anon_client.get(url, headers=bearer(token))
    assert refused.status_code == 403 and refused.json()["error"] == "ForbiddenError"


def test_admin_token_cannot_renew_or_revoke(anon_client):
    from tests.factories import ADMIN_TOKEN

    renew = anon_client.post("/api/v1/auth/token/renew", json={"accessToken": ADMIN_TOKEN})
    assert renew.status_code == 400 and renew.json()["message"] == "Only identity access tokens can be renewed"
    revoke = anon_client.post("/api/v1/auth/token/revoke", json={"accessToken": ADMIN_TOKEN})
    assert revoke.status_code == 401 and revoke.json()["message"] == "Only identity access tokens can be revoked"
    assert anon_client.post("/api/v1/auth/token/renew", json={}).status_code == 422
    unknown = anon_client.post("/api/v1/auth/token/revoke", json={"accessToken": "nope"})
    assert unknown.status_code == 401 and unknown.json()["message"] == "No identity access token found"


def test_curl_walkthrough(client, anon_client, connection):
    """identity §12, step by step, as the admin and then as the service (no admin token)."""
    org_id = client.get("/api/v1/organization").json()["organizations"][0]["id"]
    project_id = connection["projectId"]  # identity §12.4: the `project` fixture, billing-app
    envs = client.get(f"/api/v1/projects/{project_id}").json()["project"]["environments"]
    assert [(e["slug"], e["name"]) for e in envs] == [
        ("dev", "Development"),
        ("staging", "Staging"),
        ("prod", "Production"),
    ]
    # identity §12.5
    identity_id = client.post(
        "/api/v1/identities", json={"name": "billing-api", "organizationId": org_id, "role": "no-access"}
    ).json()["identity"]["id"]
    assert client.get(f"/api/v1/identities/{identity_id}").json()["identity"]["identityId"] == identity_id
    # identity §12.6
    client_id = client.post(f"{UA}/{identity_id}", json={"accessTokenTTL": 3600, "accessTokenMaxTTL": 86400}).json()[
        "identityUniversalAuth"
    ]["clientId"]
    # identity §12.7
    client_secret = client.post(f"{UA}/{identity_id}/client-secrets", json={"description": "billing-api prod"}).json()[
        "clientSecret"
    ]
    listed = client.get(f"{UA}/{identity_id}/client-secrets").json()["clientSecretData"]
    assert [(s["clientSecretPrefix"], s["description"]) for s in listed] == [(client_secret[:4], "billing-api prod")]
    # identity §12.8
    granted = client.post(
        f"/api/v1/projects/{project_id}/memberships/identities/{identity_id}",
        json={
            "roles": [{"role": "viewer", "isTemporary": False}],
            "scope": {"environments": ["prod"], "secretPaths": ["/openrouter/**"]},
        },
    )
    assert granted.status_code == 200, granted.text
    got = client.get(f"/api/v1/projects/{project_id}/memberships/identities/{identity_id}").json()
    assert [r["role"] for r in got["identityMembership"]["roles"]] == ["viewer"]
    # identity §12.9
    rotation = client.post(
        "/api/v2/secret-rotations/open-router-api-key",
        json={
            "name": "billing-openrouter",
            "projectId": project_id,
            "connectionId": connection["id"],
            "environment": "prod",
            "secretPath": "/openrouter",
            "rotationInterval": 30,
            "parameters": {"name": "billing-api"},
            "secretsMapping": {"apiKey": "OPENROUTER_API_KEY"},
        },
    )
    assert rotation.status_code == 200, rotation.text
    # identity §12.10: no admin token from here on
    anon_client.headers.pop("Authorization", None)
    login_response = anon_client.post(
        "/api/v1/auth/universal-auth/login", json={"clientId": client_id, "clientSecret": client_secret}
    )
    assert login_response.status_code == 200, login_response.text
    access_token = login_response.json()["accessToken"]

    def read_secret(environment: str, path: str):
        return anon_client.get(
            "/api/v3/secrets/raw/OPENROUTER_API_KEY",
            headers=bearer(access_token),
            params={"workspaceId": project_id, "environment": environment, "secretPath": path},
        )

    prod = read_secret("prod", "/openrouter")
    assert prod.status_code == 200, prod.text
    assert prod.json()["secret"]["secretKey"] == "OPENROUTER_API_KEY" and prod.json()["secret"]["secretValue"]
    dev = read_secret("dev", "/openrouter")
    assert dev.status_code == 403 and dev.json()["error"] == "PermissionDenied"
    assert dev.json()["message"] == (
        "You are not allowed to readValue on secrets in environment 'dev' at path '/openrouter': "
        "outside the membership scope (environments: prod; secretPaths: /openrouter/**)"
    )
    # identity §12.12
    renewed = anon_client.post("/api/v1/auth/token/renew", json={"accessToken": access_token})
    assert renewed.status_code == 200 and renewed.json()["expiresIn"] == 3600
    assert renewed.json()["accessTokenMaxTTL"] == 86400 and renewed.json()["tokenType"] == "Bearer"
    revoked = anon_client.post("/api/v1/auth/token/revoke", json={"accessToken": access_token})
    assert revoked.json() == {"message": "Successfully revoked access token"}
    assert read_secret("prod", "/openrouter").status_code == 401
    secrets = client.get(f"{UA}/{identity_id}/client-secrets", headers=bearer(ADMIN)).json()["clientSecretData"]
    secret_id = secrets[0]["id"]
    retired = client.post(f"{UA}/{identity_id}/client-secrets/{secret_id}/revoke", headers=bearer(ADMIN)).json()
    assert retired["clientSecretData"]["isClientSecretRevoked"] is True
    removed = client.delete(
        f"/api/v1/projects/{project_id}/memberships/identities/{identity_id}", headers=bearer(ADMIN)
    )
    assert removed.status_code == 200 and removed.json()["identityMembership"]["id"]


def test_org_admin_identity_has_the_admin_tokens_rights(client, anon_client, project):
    machine = make_machine(client, "platform")
    token = token_for(anon_client, machine)
    refused = anon_client.post("/api/v1/identities", json={"name": "x"}, headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["message"] == "You are not allowed to create on identity: only the admin token may do this"
    client.patch(f"/api/v1/identities/{machine.identity_id}", json={"role": "admin"}, headers=bearer(ADMIN))
    created = anon_client.post("/api/v1/identities", json={"name": "x"}, headers=bearer(token))
    assert created.status_code == 200, created.text
    assert anon_client.get(f"/api/v1/projects/{project['id']}", headers=bearer(token)).status_code == 200
    # It can rotate its own client secret.
    minted = anon_client.post(f"{UA}/{machine.identity_id}/client-secrets", json={}, headers=bearer(token))
    assert minted.status_code == 200
    entry = client.get(
        "/api/v1/audit-logs", params={"eventType": "create-identity", "limit": 1}, headers=bearer(ADMIN)
    ).json()["auditLogs"][0]
    assert entry["actor"] == f"identity:{machine.identity_id}"
