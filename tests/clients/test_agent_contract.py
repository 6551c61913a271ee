"""The Infisical CLI agent's template functions, replayed (clients §3, clients §4, clients §5.3, clients §6):
`listSecrets`, `getSecretByName` and `listSecretsByProjectSlug`. The agent never sends `If-None-Match`; it
re-renders its templates (and runs its command) only when the ETag of the last call differs from the previous
poll's, so the ETag must change on a rotation and stay put otherwise."""

from __future__ import annotations

from tests.clients.deployment import PATH, SECRET
from tests.clients.wire import CLI_GET, CLI_LIST, CLI_PROJECT, go_json

UA = "cli"


def _list_url(project_id: str) -> str:
    return (
        "/api/v4/secrets?environment=prod&expandSecretReferences=true&includeImports=true"
        f"&includePersonalOverrides=true&projectId={project_id}&recursive=false&secretPath=%2Fopenrouter"
    )


def _get_url(project_id: str, name: str = SECRET) -> str:
    return (
        f"/api/v4/secrets/{name}?environment=prod&expandSecretReferences=true&includeImports=true"
        f"&projectId={project_id}&secretPath=%2Fopenrouter&type=shared"
    )


def test_get_secret_by_name_decodes_every_field_the_agent_reads(anon_client, deployment):
    response = anon_client.get(_get_url(deployment.project_id), headers=deployment.headers(UA))
    assert response.status_code == 200, response.text
    secret = go_json(response, CLI_GET)["secret"]
    assert (secret["secretKey"], secret["environment"], secret["secretPath"], secret["type"]) == (
        SECRET,
        "prod",
        PATH,
        "shared",
    )
    assert secret["secretValue"].startswith("sk-or-v1-") and secret["version"] == 1
    assert secret["_id"] and secret["workspace"] == deployment.project_id and secret["secretComment"] == ""
    assert secret["skipMultilineEncoding"] is False and response.headers["etag"].startswith('"')
    missing = anon_client.get(_get_url(deployment.project_id, "NOPE"), headers=deployment.headers(UA))
    assert (missing.status_code, missing.json()["message"]) == (404, "Secret with name 'NOPE' not found")


def test_list_secrets_by_project_slug_looks_the_project_up_then_lists_by_its_id(anon_client, deployment):
    project = anon_client.get(f"/api/v1/projects/slug/{deployment.slug}", headers=deployment.headers(UA))
    assert project.status_code == 200, project.text
    found = go_json(project, CLI_PROJECT)
    assert (found["id"], found["slug"]) == (deployment.project_id, deployment.slug)
    listed = anon_client.get(_list_url(found["id"]), headers=deployment.headers(UA))
    assert [s["secretKey"] for s in go_json(listed, CLI_LIST)["secrets"]] == [SECRET]


def test_the_etags_the_agent_compares_change_on_a_rotation_and_never_between_rotations(anon_client, deployment, rotate):
    headers = deployment.headers(UA)

    def poll() -> dict[str, tuple[str, int]]:
        """One polling round: each template function's ETag, and the version it rendered."""
        listed = anon_client.get(_list_url(deployment.project_id), headers=headers)
        one = anon_client.get(_get_url(deployment.project_id), headers=headers)
        assert listed.status_code == one.status_code == 200  # no If-None-Match, so never a 304
        return {
            "listSecrets": (listed.headers["etag"], go_json(listed, CLI_LIST)["secrets"][0]["version"]),
            "getSecretByName": (one.headers["etag"], go_json(one, CLI_GET)["secret"]["version"]),
        }

    first = poll()
    assert all(tag for tag, _ in first.values())  # an empty ETag would never trigger a re-render
    assert poll() == poll() == first
    rotate(deployment, lambda: min(version for _, version in poll().values()))
    second = poll()
    for function, (tag, version) in second.items():
        assert tag != first[function][0] and version == first[function][1] + 1, function
    assert poll() == second
