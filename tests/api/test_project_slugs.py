"""Projects addressed by slug (clients §5.1, clients §6): the three look-up routes, and the v3 and v4 reads by
`workspaceSlug` / `projectSlug`, which answer exactly as the same reads by id."""

from __future__ import annotations

import pytest

from tests.factories import as_identity, put_secret

LOOKUPS = ["/api/v1/projects/slug/{slug}", "/api/v1/workspace/slug/{slug}", "/api/v2/workspace/{slug}"]


@pytest.fixture
def secret_id(project) -> str:
    return put_secret(project["id"], "OPENROUTER_API_KEY", "sk-or-v1-first", path="/openrouter")


def test_lookups_answer_the_project_unwrapped_with_its_environments(client, project):
    expected = client.get(f"/api/v1/projects/{project['id']}").json()["project"]
    assert [env["slug"] for env in expected["environments"]] == ["dev", "staging", "prod"]
    for route in LOOKUPS:
        response = client.get(route.format(slug=project["slug"]))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        if route.startswith("/api/v2/"):
            assert body.pop("kmsSecretManagerKeyId") is None
        assert body == expected and body["id"] == body["_id"] == project["id"]


@pytest.mark.parametrize("route", LOOKUPS)
def test_lookups_are_open_to_project_readers_and_404_to_everyone_else(anon_client, client, project, route):
    url = route.format(slug=project["slug"])
    viewer = as_identity(client, project, "viewer", scope={"environments": ["prod"], "secretPaths": ["/x"]})
    assert anon_client.get(url, headers=viewer).json()["id"] == project["id"]
    assert anon_client.get(url, headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
    outsider = as_identity(client, project, "no-access", name="outsider")
    hidden = anon_client.get(url, headers=outsider)
    unknown = client.get(route.format(slug="no-such-project"))
    for response, slug in ((hidden, project["slug"]), (unknown, "no-such-project")):
        assert (response.status_code, response.json()["error"]) == (404, "NotFound")
        assert response.json()["message"] == f"No project found with slug {slug}"


@pytest.mark.parametrize("slug", ["Billing-App", "billing_app", "a" * 65, "-billing", "billing-"])
def test_a_malformed_slug_is_422(client, project, slug):
    response = client.get(f"/api/v1/projects/slug/{slug}")
    assert response.status_code == 422 and response.json()["error"] == "ValidationFailure"
    assert response.json()["message"][0]["path"] == ["slug"]


def _reads(pid: str, selector: str) -> list[str]:
    where = "environment=prod&secretPath=%2Fopenrouter"
    return [
        f"/api/v3/secrets/raw?{selector}&{where}&recursive=false&include_imports=true",
        f"/api/v3/secrets/raw/OPENROUTER_API_KEY?{selector}&{where}&type=shared",
        f"/api/v4/secrets?{selector}&{where}&recursive=false",
        f"/api/v4/secrets/OPENROUTER_API_KEY?{selector}&{where}&type=shared",
    ]


def test_a_read_by_slug_answers_byte_identically_to_the_read_by_id(anon_client, client, project, secret_id):
    viewer = as_identity(client, project, "viewer")
    pid, slug = project["id"], project["slug"]
    by_id = [anon_client.get(url, headers=viewer) for url in _reads(pid, f"workspaceId={pid}&workspaceSlug=")]
    assert all(r.status_code == 200 for r in by_id) and b"sk-or-v1-first" in by_id[0].content
    for selector in (f"workspaceId=&workspaceSlug={slug}", f"projectSlug={slug}", f"projectId=&workspaceSlug={slug}"):
        by_slug = [anon_client.get(url, headers=viewer) for url in _reads(pid, selector)]
        assert [(r.status_code, r.content, r.headers["etag"]) for r in by_slug] == [
            (r.status_code, r.content, r.headers["etag"]) for r in by_id
        ]


def test_an_id_wins_over_a_slug_and_an_unknown_slug_is_404(client, project, secret_id):
    pid = project["id"]
    for url in _reads(pid, f"workspaceId={pid}&workspaceSlug=no-such-project"):
        assert client.get(url).status_code == 200
    for url in _reads(pid, "workspaceSlug=no-such-project"):
        response = client.get(url)
        assert (response.status_code, response.json()["message"]) == (404, "No project found with slug no-such-project")
    for url in _reads(pid, "workspaceId=&workspaceSlug="):
        assert client.get(url).status_code == 400
