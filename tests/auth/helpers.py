"""Shared helpers for identity, token and permission tests: a controllable clock and API shortcuts."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.testclient import TestClient


@dataclass
class Machine:
    """An identity with universal auth and one client secret."""

    identity_id: str
    client_id: str
    client_secret: str
    client_secret_id: str
    tokens: list[str] = field(default_factory=list)


def create_identity(client: TestClient, name: str = "billing-api", **extra) -> str:
    response = client.post("/api/v1/identities", json={"name": name, **extra})
    assert response.status_code == 200, response.text
    return response.json()["identity"]["id"]


def make_machine(client: TestClient, name: str = "billing-api", ua: dict | None = None) -> Machine:
    identity_id = create_identity(client, name)
    response = client.post(f"/api/v1/auth/universal-auth/identities/{identity_id}", json=ua or {})
    assert response.status_code == 200, response.text
    client_id = response.json()["identityUniversalAuth"]["clientId"]
    response = client.post(f"/api/v1/auth/universal-auth/identities/{identity_id}/client-secrets", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    return Machine(identity_id, client_id, body["clientSecret"], body["clientSecretData"]["id"])


def login(anon: TestClient, machine: Machine, secret: str | None = None):
    return anon.post(
        "/api/v1/auth/universal-auth/login",
        json={
            "clientId": machine.client_id,
            "clientSecret": machine.client_secret if secret is None else secret,
        },
        headers={"Authorization": ""},
    )


def token_for(anon: TestClient, machine: Machine) -> str:
    response = login(anon, machine)
    assert response.status_code == 200, response.text
    return response.json()["accessToken"]


def grant(
    client: TestClient, project_id: str, identity_id: str, roles: list[str] | str, scope: dict | None = None
) -> dict:
    roles = [roles] if isinstance(roles, str) else roles
    body = {"roles": [{"role": r, "isTemporary": False} for r in roles]}
    if scope is not None:
        body["scope"] = scope
    response = client.post(f"/api/v1/projects/{project_id}/memberships/identities/{identity_id}", json=body)
    assert response.status_code == 200, response.text
    return response.json()["identityMembership"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
