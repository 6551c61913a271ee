"""Secret paths refuse `.` and `..` segments and control or bidirectional-override characters with 422,
wherever a path is taken: a rotation's secretPath and the read API's secretPath (issue 10 B10)."""

from __future__ import annotations

import pytest

from app.validation import normalise_secret_path
from tests.factories import OR, seed_body


@pytest.mark.parametrize("path", ["/a/../b", "/a/./b", "..", "/.", "/a/..", "/a\u202eb", "/a\x07b"])
def test_the_rule_refuses(path):
    with pytest.raises(ValueError):
        normalise_secret_path(path)


@pytest.mark.parametrize("path", ["/", "/a/b", "a/b/", "/a.b/..c", "/...", "/a\tb"])
def test_the_rule_accepts(path):
    assert normalise_secret_path(path).startswith("/")


@pytest.mark.parametrize("path", ["/app/../prod", "/app/."])
def test_a_rotation_path_with_dot_segments_is_422_and_nothing_is_created(client, project, connection, path):
    response = client.post(OR, json=seed_body(project, connection, secretPath=path))
    assert response.status_code == 422, response.text
    assert client.get("/api/v2/secret-rotations", params={"projectId": project["id"]}).json()["secretRotations"] == []


def test_a_read_path_with_dot_segments_is_422(client, project):
    response = client.get(
        "/api/v3/secrets/raw", params={"workspaceId": project["id"], "environment": "dev", "secretPath": "/a/../b"}
    )
    assert response.status_code == 422, response.text
