"""Who may do what with rotations (rotation §11, identity §8): lists filter silently, every other
endpoint answers 403, scoped memberships are narrowed to their environments and paths."""

from __future__ import annotations

import pytest

from tests.factories import BASE, OR, as_identity, post_rotation, seed_body


@pytest.fixture
def rotations(client, project, connection) -> dict:
    """One rotation in dev at / and one in prod at /openrouter."""
    return {
        "dev": post_rotation(client, project, connection, name="dev-rotation", secretsMapping={"apiKey": "DEV_KEY"}),
        "prod": post_rotation(
            client, project, connection, name="prod-rotation", environment="prod", secretPath="/openrouter"
        ),
    }


def test_viewer_reads_but_cannot_touch_credentials_or_write(client, project, connection, rotations):
    headers = as_identity(client, project, "viewer")
    rotation_id = rotations["dev"]["id"]
    assert client.get(f"{BASE}/options", headers=headers).status_code == 200
    listed = client.get(OR, params={"projectId": project["id"]}, headers=headers).json()["secretRotations"]
    assert len(listed) == 2
    assert client.get(f"{OR}/{rotation_id}", headers=headers).status_code == 200
    assert client.get(f"{OR}/{rotation_id}/history", headers=headers).status_code == 200
    for method, suffix in [
        ("GET", "/generated-credentials"),
        ("POST", "/check-credentials"),
        ("POST", "/rotate-secrets"),
        ("PATCH", ""),
        ("DELETE", ""),
    ]:
        response = client.request(
            method, f"{OR}/{rotation_id}{suffix}", headers=headers, json={} if method == "PATCH" else None
        )
        assert response.status_code == 403, (method, suffix, response.text)
        assert response.json()["error"] == "PermissionDenied"
    create_attempt = client.post(OR, json=seed_body(project, connection, name="mine"), headers=headers)
    assert create_attempt.status_code == 403


def test_member_may_rotate_but_not_read_keys(client, project, connection, rotations):
    headers = as_identity(client, project, "member")
    rotation_id = rotations["dev"]["id"]
    assert client.post(f"{OR}/{rotation_id}/rotate-secrets", headers=headers).status_code == 200
    assert client.get(f"{OR}/{rotation_id}/generated-credentials", headers=headers).status_code == 403


def test_scoped_membership_sees_only_its_folder(client, project, connection, rotations):
    headers = as_identity(client, project, "admin", {"environments": ["prod"], "secretPaths": ["/openrouter/**"]})
    for url in (BASE, OR):
        listed = client.get(url, params={"projectId": project["id"]}, headers=headers).json()["secretRotations"]
        assert [r["id"] for r in listed] == [rotations["prod"]["id"]]
    assert client.get(f"{OR}/{rotations['dev']['id']}", headers=headers).status_code == 403
    assert client.get(f"{OR}/{rotations['prod']['id']}/generated-credentials", headers=headers).status_code == 200
    outside = client.post(
        OR, json=seed_body(project, connection, name="elsewhere", secretsMapping={"apiKey": "X"}), headers=headers
    )
    assert outside.status_code == 403
    inside = client.post(
        OR,
        json=seed_body(
            project,
            connection,
            name="inside",
            environment="prod",
            secretPath="/openrouter/team",
            secretsMapping={"apiKey": "X"},
        ),
        headers=headers,
    )
    assert inside.status_code == 200, inside.text


def test_identity_of_another_project_is_refused(client, project, connection, rotations):
    other = client.post("/api/v1/projects", json={"projectName": "other", "slug": "other-app"}).json()["project"]
    headers = as_identity(client, other, "admin")
    listed = client.get(OR, params={"projectId": project["id"]}, headers=headers).json()["secretRotations"]
    assert listed == []
    assert client.get(f"{OR}/{rotations['dev']['id']}", headers=headers).status_code == 403
