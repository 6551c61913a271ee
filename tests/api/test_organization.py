"""O1 and O2: the single organisation, stable across calls, admin token only."""

from __future__ import annotations

import uuid


def test_o1_lists_the_one_organisation_with_a_stable_id(client):
    first = client.get("/api/v1/organization")
    assert first.status_code == 200
    [org] = first.json()["organizations"]
    assert org["name"] == org["slug"] == "keyturn"
    assert org["orgAuthMethod"] == "admin-token" and org["userRole"] == "admin"
    assert org["customerId"] is None and org["authEnforced"] is False and org["enforceMfa"] is False
    assert org["createdAt"].endswith("Z") and org["userJoinedAt"] == org["createdAt"]
    uuid.UUID(org["id"])
    assert client.get("/api/v1/organization").json()["organizations"][0]["id"] == org["id"]


def test_projects_carry_the_organisation_id(client, project):
    org_id = client.get("/api/v1/organization").json()["organizations"][0]["id"]
    assert project["orgId"] == org_id


def test_o2_returns_the_organisation_without_membership_fields(client):
    org_id = client.get("/api/v1/organization").json()["organizations"][0]["id"]
    response = client.get(f"/api/v1/organization/{org_id}")
    assert response.status_code == 200
    org = response.json()["organization"]
    assert org["id"] == org_id
    assert not {"orgAuthMethod", "userRole", "userJoinedAt"} & org.keys()


def test_o2_unknown_id_is_404(client):
    other = str(uuid.uuid4())
    response = client.get(f"/api/v1/organization/{other}")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound" and other in response.json()["message"]


def test_o2_malformed_id_is_422(client):
    response = client.get("/api/v1/organization/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["message"][0]["path"] == ["organizationId"]


def test_organisation_needs_a_token(anon_client):
    response = anon_client.get("/api/v1/organization")
    assert response.status_code == 401
    assert response.json()["message"] == "Token missing"
