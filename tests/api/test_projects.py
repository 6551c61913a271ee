"""P1–P6 and E1 against the identity §4."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session

from app.db import engine
from app.models import AppConnection, RotationCredential
from tests.factories import insert_rotation

PROJECT_KEYS = {
    "id",
    "_id",
    "name",
    "description",
    "type",
    "defaultProduct",
    "slug",
    "autoCapitalization",
    "orgId",
    "createdAt",
    "updatedAt",
    "version",
    "upgradeStatus",
    "pitVersionLimit",
    "kmsCertificateKeyId",
    "auditLogsRetentionDays",
    "hasDeleteProtection",
    "secretSharing",
    "showSnapshotsLegacy",
    "secretDetectionIgnoreValues",
    "environments",
}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _create(client, **body):
    return client.post("/api/v1/projects", json={"projectName": "billing", **body})


# --- P1 / P2 ---------------------------------------------------------------------------------


def test_p1_creates_a_project_with_default_environments(client):
    response = _create(client, slug="billing-app", projectDescription="  Keys used by billing  ")
    assert response.status_code == 200
    project = response.json()["project"]
    assert set(project) == PROJECT_KEYS
    assert project["_id"] == project["id"]
    assert project["description"] == "Keys used by billing"
    assert (project["type"], project["version"], project["pitVersionLimit"]) == ("secret-manager", 3, 10)
    assert project["secretSharing"] is True and project["hasDeleteProtection"] is False
    assert ISO.match(project["createdAt"]) and ISO.match(project["updatedAt"])
    assert [(e["name"], e["slug"]) for e in project["environments"]] == [
        ("Development", "dev"),
        ("Staging", "staging"),
        ("Production", "prod"),
    ]


def test_p2_legacy_alias_adds_kms_field(client):
    response = client.post("/api/v2/workspace", json={"projectName": "legacy"})
    assert response.status_code == 200
    assert response.json()["project"]["kmsSecretManagerKeyId"] is None


def test_p1_generates_a_slug_that_fits(client):
    project = _create(client, projectName="A Very Long Project Name That Goes On And On!!").json()["project"]
    assert re.fullmatch(r"a-very-long-project-name-that-g-[a-z0-9]{4}", project["slug"])
    assert _create(client, projectName="???").json()["project"]["slug"].startswith("project-")


def test_p1_without_default_envs_and_with_protection(client):
    project = _create(
        client,
        shouldCreateDefaultEnvs=False,
        hasDeleteProtection=True,
        unknownField="dropped",
        organizationId="ignored",
    ).json()["project"]
    assert project["environments"] == [] and project["hasDeleteProtection"] is True


def test_p1_duplicate_slug_is_400(client, project):
    response = _create(client, slug=project["slug"])
    assert response.status_code == 400
    assert response.json() == {
        **response.json(),
        "error": "BadRequest",
        "message": 'A project with the slug "billing-app" already exists in your organization. '
        "Please choose a different name or slug.",
    }


def test_p1_validation_reports_every_issue(client):
    response = client.post("/api/v1/projects", json={"slug": "Ab"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationFailure"
    issues = {tuple(i["path"]): i for i in body["message"]}
    assert issues[("projectName",)]["message"] == "Required"
    assert issues[("slug",)]["message"] == "Slug field must be at least 5 lowercase characters"


@pytest.mark.parametrize(
    "body, path",
    [
        ({"projectName": "   "}, "projectName"),
        ({"projectName": "x" * 65}, "projectName"),
        ({"projectName": 5}, "projectName"),
        ({"projectName": "ok", "slug": "Bad_Slug"}, "slug"),
        ({"projectName": "ok", "type": "kms"}, "type"),
        ({"projectName": "ok", "shouldCreateDefaultEnvs": "yes"}, "shouldCreateDefaultEnvs"),
    ],
)
def test_p1_field_rules(client, body, path):
    response = client.post("/api/v1/projects", json=body)
    assert response.status_code == 422
    assert [i["path"] for i in response.json()["message"]] == [[path]]


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"template": "custom"}, "Project templates are not supported by keyturn"),
        ({"kmsKeyId": "abc"}, "kmsKeyId is not supported by keyturn"),
    ],
)
def test_p1_unsupported_options_are_400(client, extra, message):
    response = _create(client, **extra)
    assert (response.status_code, response.json()["message"]) == (400, message)


def test_p1_needs_a_token(anon_client):
    assert anon_client.post("/api/v1/projects", json={"projectName": "x"}).status_code == 401


# --- P3 / P4 ---------------------------------------------------------------------------------


def test_p3_lists_projects_in_creation_order(client, project):
    second = _create(client, slug="second-one").json()["project"]
    response = client.get("/api/v1/projects", params={"includeRoles": "true"})
    assert response.status_code == 200
    projects = response.json()["projects"]
    assert [p["id"] for p in projects] == [project["id"], second["id"]]
    assert all(len(p["environments"]) == 3 for p in projects)
    assert client.get("/api/v1/projects", params={"type": "kms"}).json() == {"projects": []}


def test_p3_rejects_a_non_boolean_flag(client):
    assert client.get("/api/v1/projects", params={"includeRoles": "yes"}).status_code == 422


def test_p4_gets_one_project(client, project):
    response = client.get(f"/api/v1/projects/{project['id']}")
    assert response.status_code == 200
    assert response.json()["project"] == project


def test_p4_unknown_project_is_404(client):
    response = client.get("/api/v1/projects/whatever-id")
    assert response.status_code == 404
    assert response.json()["message"] == "Project with ID 'whatever-id' not found"


# --- P5 --------------------------------------------------------------------------------------


def test_p5_updates_fields(client, project):
    response = client.patch(
        f"/api/v1/projects/{project['id']}",
        json={
            "name": " renamed ",
            "description": None,
            "slug": "renamed-app",
            "hasDeleteProtection": True,
            "autoCapitalization": True,
        },
    )
    assert response.status_code == 200
    updated = response.json()["project"]
    assert "environments" not in updated and "_id" not in updated
    assert (updated["name"], updated["slug"], updated["description"], updated["hasDeleteProtection"]) == (
        "renamed",
        "renamed-app",
        None,
        True,
    )
    assert updated["createdAt"] == project["createdAt"]


def test_p5_accepts_an_empty_body(client, project):
    response = client.patch(f"/api/v1/projects/{project['id']}")
    assert response.status_code == 200 and response.json()["project"]["name"] == "billing"


def test_p5_duplicate_slug_and_unknown_project(client, project):
    other = _create(client, slug="other-app").json()["project"]
    response = client.patch(f"/api/v1/projects/{other['id']}", json={"slug": project["slug"]})
    assert response.status_code == 400
    assert client.patch("/api/v1/projects/nope", json={}).status_code == 404
    assert client.patch(f"/api/v1/projects/{other['id']}", json={"name": ""}).status_code == 422


# --- P6 --------------------------------------------------------------------------------------


def test_p6_deletes_the_project_and_what_it_owns(client, project, connection):
    response = client.delete(f"/api/v1/projects/{project['id']}")
    assert response.status_code == 200
    deleted = response.json()["project"]
    assert deleted["id"] == project["id"] and "environments" not in deleted
    assert client.get(f"/api/v1/projects/{project['id']}").status_code == 404
    assert client.get(f"/api/v1/app-connections/open-router/{connection['id']}").status_code == 404


def test_p6_refuses_when_delete_protection_is_on(client):
    project = _create(client, hasDeleteProtection=True).json()["project"]
    response = client.delete(f"/api/v1/projects/{project['id']}")
    assert (response.status_code, response.json()["message"]) == (400, "Project delete protection is enabled")
    client.patch(f"/api/v1/projects/{project['id']}", json={"hasDeleteProtection": False})
    assert client.delete(f"/api/v1/projects/{project['id']}").status_code == 200


def _credential(connection_id: str, state: str) -> RotationCredential:
    return RotationCredential(
        rotation_id="00000000-0000-4000-8000-000000000000",
        connection_id=connection_id,
        provider="open-router",
        generation=1,
        key_name="k-g1",
        state=state,
    )


def test_p6_refuses_while_rotations_exist(client, project, connection):
    insert_rotation(project, connection, name="rot", failure=None)
    response = client.delete(f"/api/v1/projects/{project['id']}")
    assert response.status_code == 400
    assert response.json()["message"] == "Cannot delete a project that still has secret rotations. Delete them first."


@pytest.mark.parametrize("state", ["pending", "minted", "revoking"])
def test_p6_refuses_while_revocations_are_pending(client, project, connection, state):
    with Session(engine()) as session:
        session.add(_credential(connection["id"], state))
        session.commit()
    response = client.delete(f"/api/v1/projects/{project['id']}")
    assert response.status_code == 400
    assert (
        response.json()["message"] == "Cannot delete a project while key revocations are pending for its connections."
    )


def test_p6_closed_key_history_does_not_block(client, project, connection):
    with Session(engine()) as session:
        session.add(_credential(connection["id"], "revoked"))
        session.commit()
    assert client.delete(f"/api/v1/projects/{project['id']}").status_code == 200
    with Session(engine()) as session:
        assert session.get(AppConnection, connection["id"]) is None


def test_p6_unknown_project_is_404(client):
    assert client.delete("/api/v1/projects/nope").status_code == 404


# --- E1 --------------------------------------------------------------------------------------


def _env(client, project, **body):
    return client.post(f"/api/v1/projects/{project['id']}/environments", json=body)


def _slugs(client, project):
    return [e["slug"] for e in client.get(f"/api/v1/projects/{project['id']}").json()["project"]["environments"]]


def test_e1_appends_by_default(client, project):
    response = _env(client, project, name="QA", slug="qa")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Successfully created new environment" and body["projectId"] == project["id"]
    env = body["environment"]
    assert (env["name"], env["slug"], env["position"], env["projectId"]) == ("QA", "qa", 4, project["id"])
    assert ISO.match(env["createdAt"])
    assert _slugs(client, project) == ["dev", "staging", "prod", "qa"]


def test_e1_inserts_at_a_position_and_keeps_them_dense(client, project):
    assert _env(client, project, name="QA", slug="qa", position=2).json()["environment"]["position"] == 2
    assert _slugs(client, project) == ["dev", "qa", "staging", "prod"]
    assert _env(client, project, name="Far", slug="far", position=99).json()["environment"]["position"] == 5


def test_e1_errors(client, project):
    duplicate = _env(client, project, name="Dev again", slug="dev")
    assert (duplicate.status_code, duplicate.json()["message"]) == (400, "Environment with slug already exists")
    assert _env(client, {"id": "nope"}, name="QA", slug="qa").status_code == 404
    invalid = _env(client, project, name="", slug="Bad Slug", position=0)
    assert invalid.status_code == 422
    assert sorted(i["path"][0] for i in invalid.json()["message"]) == ["name", "position", "slug"]
