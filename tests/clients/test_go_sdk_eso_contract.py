"""The go-sdk and External Secrets Operator, replayed (clients §5, clients §6, clients §11, clients §12): ESO's
store only knows the project's slug, so it lists and retrieves by `workspaceSlug` with an empty `workspaceId`;
it needs a 404 for a missing secret (`deletionPolicy: Delete`); its PushSecret finds the project's id by slug."""

from __future__ import annotations

import pytest

from tests.clients.deployment import PATH, SECRET
from tests.clients.wire import GO_ERROR, GO_GET, GO_LIST, OPERATOR_PROJECT, decode, go_json
from tests.factories import make_machine

UA = "infisical-go-sdk"


def _eso_list(slug: str, imports: str = "true", path: str = "%2Fopenrouter") -> str:
    return (
        f"/api/v3/secrets/raw?environment=prod&expandSecretReferences=true&include_imports={imports}"
        f"&recursive=false&secretPath={path}&workspaceId=&workspaceSlug={slug}"
    )


def _eso_get(slug: str, name: str = SECRET, imports: str = "true") -> str:
    return (
        f"/api/v3/secrets/raw/{name}?environment=prod&expandSecretReferences=true&include_imports={imports}"
        f"&secretPath=%2Fopenrouter&type=shared&workspaceSlug={slug}"
    )


@pytest.mark.parametrize("imports", ["true", "false"])  # GetAllSecrets, and the store's Validate
def test_eso_lists_by_workspace_slug(anon_client, deployment, imports):
    response = anon_client.get(_eso_list(deployment.slug, imports), headers=deployment.headers(UA))
    assert response.status_code == 200, response.text
    body = go_json(response, GO_LIST)
    (secret,) = body["secrets"]
    assert (secret["secretKey"], secret["secretPath"], secret["workspace"]) == (SECRET, PATH, deployment.project_id)
    assert secret["secretValue"].startswith("sk-or-v1-") and secret["version"] == 1 and secret["id"]
    assert (secret["secretMetadata"], secret["tags"], body["imports"]) == ([], [], [])
    assert response.headers["etag"]  # ListSecretsResult.ETag


def test_eso_find_by_path_lists_recursively_and_keeps_secret_path(anon_client, deployment):
    url = _eso_list(deployment.slug, path="%2F").replace("recursive=false", "recursive=true")
    secrets = go_json(anon_client.get(url, headers=deployment.headers(UA)), GO_LIST)["secrets"]
    assert [(s["secretPath"], s["secretKey"]) for s in secrets] == [(PATH, SECRET)]


@pytest.mark.parametrize("imports", ["true", "false"])  # GetSecret, and PushSecret's existence check
def test_eso_retrieves_by_workspace_slug_and_a_missing_secret_is_404(anon_client, deployment, imports):
    headers = deployment.headers(UA)
    found = anon_client.get(_eso_get(deployment.slug, imports=imports), headers=headers)
    secret = go_json(found, GO_GET)["secret"]
    assert (secret["secretKey"], secret["secretPath"]) == (SECRET, PATH)
    assert secret["secretValue"].startswith("sk-or-v1-")
    missing = anon_client.get(_eso_get(deployment.slug, "GONE", imports), headers=headers)
    assert missing.status_code == 404  # NoSecretErr
    error = go_json(missing, GO_ERROR)
    assert error["message"] == "Secret with name 'GONE' not found" and error["reqId"]


def test_go_retrieve_sends_one_project_key_and_version_only_when_set(anon_client, deployment):
    headers = deployment.headers(UA)
    by_id = _eso_get(deployment.slug).replace(
        f"workspaceSlug={deployment.slug}", f"workspaceId={deployment.project_id}"
    )
    assert (
        anon_client.get(by_id, headers=headers).content
        == anon_client.get(_eso_get(deployment.slug), headers=headers).content
    )
    assert go_json(anon_client.get(by_id + "&version=1", headers=headers), GO_GET)["secret"]["version"] == 1
    assert anon_client.get(by_id + "&version=2", headers=headers).status_code == 404


def test_go_list_with_if_none_match_is_a_304_with_no_body(anon_client, deployment):
    url, headers = _eso_list(deployment.slug), deployment.headers(UA)
    tag = anon_client.get(url, headers=headers).headers["etag"]
    unchanged = anon_client.get(url, headers={**headers, "If-None-Match": tag})  # NotModifiedError
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", tag)


def test_eso_unknown_slug_and_bad_values_answer_as_the_go_sdk_expects(anon_client, deployment):
    headers = deployment.headers(UA)
    unknown = anon_client.get(_eso_list("no-such-project"), headers=headers)
    assert unknown.status_code == 404
    assert go_json(unknown, GO_ERROR)["message"] == "No project found with slug no-such-project"
    bad = anon_client.get(_eso_list(deployment.slug, imports="maybe"), headers=headers)
    assert bad.status_code == 422  # the go-sdk keeps the whole body of a 422
    assert decode({"message": [{"path": [str], "message": str}]}, bad.json())["message"][0]["path"] == [
        "include_imports"
    ]


def test_push_secret_finds_the_project_id_by_slug_on_either_route(anon_client, deployment):
    headers = deployment.headers(UA)
    for route in (f"/api/v1/projects/slug/{deployment.slug}", f"/api/v1/workspace/slug/{deployment.slug}"):
        assert go_json(anon_client.get(route, headers=headers), OPERATOR_PROJECT)["id"] == deployment.project_id
    # A 404 (never another status) lets ESO try its fallback, then report "no Infisical project found".
    assert anon_client.get("/api/v1/projects/slug/no-such-project", headers=headers).status_code == 404


def test_go_login_with_an_organization_slug_is_accepted(anon_client, client):
    machine = make_machine(client, "eso-store")
    body = {"clientId": machine.client_id, "clientSecret": machine.client_secret, "organizationSlug": "acme"}
    response = anon_client.post(
        "/api/v1/auth/universal-auth/login", json=body, headers={"User-Agent": UA, "Authorization": ""}
    )
    assert response.status_code == 200, response.text
    assert go_json(response, {"accessToken": str, "expiresIn": int})["accessToken"]
