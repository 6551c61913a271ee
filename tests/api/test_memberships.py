"""M1–M7: project role grants for identities, legacy paths and the scope extension (identity §7)."""

from __future__ import annotations

import uuid

from tests.factories import bearer, create_identity, grant, make_machine, token_for

BASE = "/api/v1/projects/{p}/memberships/identities"


def test_grant_get_list_update_delete(client, project):
    identity_id = create_identity(client)
    url = BASE.format(p=project["id"]) + f"/{identity_id}"
    body = {
        "roles": [{"role": "viewer", "isTemporary": False}, {"role": "viewer"}],
        "scope": {"environments": ["prod"], "secretPaths": ["/openrouter/**"]},
    }
    created = client.post(url, json=body)
    assert created.status_code == 200, created.text
    membership = created.json()["identityMembership"]
    assert set(membership) == {"id", "projectId", "identityId", "createdAt", "updatedAt", "scope"}
    assert membership["scope"] == {"environments": ["prod"], "secretPaths": ["/openrouter/**"]}
    again = client.post(url, json=body)
    assert again.status_code == 400 and again.json()["message"] == "Identity is already a member"

    got = client.get(url).json()["identityMembership"]
    assert [r["role"] for r in got["roles"]] == ["viewer"]  # duplicates merged
    assert got["roles"][0]["customRoleId"] is None and got["roles"][0]["isTemporary"] is False
    assert got["identity"]["id"] == identity_id and got["identity"]["authMethods"] == []

    listed = client.get(BASE.format(p=project["id"])).json()
    assert listed["totalCount"] == 1 and listed["identityMemberships"][0]["identityId"] == identity_id

    patched = client.patch(url, json={"scope": None}).json()["identityMembership"]
    assert patched["scope"] is None
    assert [r["role"] for r in client.get(url).json()["identityMembership"]["roles"]] == ["viewer"]
    client.patch(url, json={"roles": [{"role": "member"}, {"role": "viewer"}]})
    assert [r["role"] for r in client.get(url).json()["identityMembership"]["roles"]] == ["member", "viewer"]
    assert client.patch(url, json={}).status_code == 422
    assert client.patch(url, json={"scope": {}}).json()["identityMembership"]["scope"] is None

    removed = client.delete(url)
    assert removed.status_code == 200 and removed.json()["identityMembership"]["id"] == membership["id"]
    for method in ("get", "patch", "delete"):
        missing = client.request(method.upper(), url, json={"roles": [{"role": "viewer"}]})
        assert missing.status_code == 404 and missing.json()["message"] == "Identity membership not found"


def test_legacy_paths_and_default_role(client, project):
    a, b, c = (create_identity(client, n) for n in ("a", "b", "c"))
    v2 = client.post(f"/api/v2/workspace/{project['id']}/identity-memberships/{a}", json={"role": "viewer"})
    assert v2.status_code == 200, v2.text
    v1 = client.post(f"/api/v1/projects/{project['id']}/identity-memberships/{b}")
    assert v1.status_code == 200, v1.text
    client.post(BASE.format(p=project["id"]) + f"/{c}", json={"role": "admin"})
    roles = {
        m["identityId"]: [r["role"] for r in m["roles"]]
        for m in client.get(BASE.format(p=project["id"])).json()["identityMemberships"]
    }
    assert roles == {a: ["viewer"], b: ["no-access"], c: ["admin"]}
    assert client.get(f"/api/v2/workspace/{project['id']}/identity-memberships/{a}").status_code in (404, 405)


def test_list_filters_and_pagination(client, project):
    for name, role in (("alpha", "viewer"), ("beta", "member"), ("gamma", "viewer")):
        grant(client, project["id"], create_identity(client, name), role)
    url = BASE.format(p=project["id"])
    page = client.get(url, params={"offset": 1, "limit": 1}).json()
    assert page["totalCount"] == 3 and [m["identity"]["name"] for m in page["identityMemberships"]] == ["beta"]
    viewers = client.get(url, params={"roles": "viewer"}).json()
    assert [m["identity"]["name"] for m in viewers["identityMemberships"]] == ["alpha", "gamma"]
    assert client.get(url, params={"identityName": "AMM"}).json()["totalCount"] == 1
    assert client.get(url, params={"limit": 0}).status_code == 422


def test_validation(client, project):
    identity_id = create_identity(client)
    url = BASE.format(p=project["id"]) + f"/{identity_id}"
    bad = client.post(url, json={"roles": [{"role": "viewr"}]})
    assert bad.status_code == 422
    assert bad.json()["message"][0]["path"] == ["roles", 0, "role"]
    assert bad.json()["message"][0]["message"] == "Invalid role 'viewr'. Expected admin, member, viewer or no-access"
    temporary = client.post(url, json={"roles": [{"role": "viewer", "isTemporary": True}]})
    assert temporary.json()["message"][0]["message"] == "Temporary roles are not supported by keyturn"
    for scope in (
        {"environments": []},
        {"secretPaths": ["openrouter"]},
        {"secretPaths": ["/a**"]},
        {"environments": ["Prod!"]},
    ):
        assert client.post(url, json={"role": "viewer", "scope": scope}).status_code == 422, scope
    assert client.post(url, json={"roles": []}).status_code == 422
    unknown_project = client.post(BASE.format(p="nope") + f"/{identity_id}", json={})
    assert (
        unknown_project.status_code == 404 and unknown_project.json()["message"] == "Project with ID 'nope' not found"
    )
    unknown_identity = client.post(BASE.format(p=project["id"]) + f"/{uuid.uuid4()}", json={})
    assert unknown_identity.status_code == 404


def test_membership_changes_apply_to_the_next_request(client, anon_client, project):
    machine = make_machine(client)
    token = token_for(anon_client, machine)
    url = f"/api/v1/projects/{project['id']}"
    assert anon_client.get(url, headers=bearer(token)).status_code == 403
    grant(client, project["id"], machine.identity_id, "viewer")
    assert anon_client.get(url, headers=bearer(token)).status_code == 200
    membership = BASE.format(p=project["id"]) + f"/{machine.identity_id}"
    client.patch(membership, json={"roles": [{"role": "no-access"}]})
    assert anon_client.get(url, headers=bearer(token)).status_code == 403
    client.patch(membership, json={"roles": [{"role": "member"}]})
    assert anon_client.get(url, headers=bearer(token)).status_code == 200
    client.delete(membership)
    refused = anon_client.get(url, headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["message"].endswith("the identity is not a member of this project")


def test_deleting_a_project_removes_its_memberships(client, project):
    identity_id = create_identity(client)
    grant(client, project["id"], identity_id, "viewer")
    assert client.delete(f"/api/v1/projects/{project['id']}").status_code == 200
    assert client.get(f"/api/v1/identities/{identity_id}").status_code == 200
