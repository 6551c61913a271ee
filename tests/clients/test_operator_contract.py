"""The Kubernetes operator, replayed (clients §3, clients §5, clients §6, clients §12): `InfisicalStaticSecret`
reads the v4 list; `InfisicalSecret` lists through the go-sdk with `If-None-Match` and skips its reconcile on a
304; both find a project given by slug (v1beta1 through the v1 look-up, v1alpha1 through the v2 one)."""

from __future__ import annotations

from tests.clients.deployment import PATH, SECRET
from tests.clients.wire import GO_GET, GO_LIST, OPERATOR_LIST, OPERATOR_PROJECT, go_json
from tests.factories import as_identity

OPERATOR = "k8-operator/v0.11.5"
GO_SDK = "infisical-go-sdk"


def _static_url(project_id: str) -> str:
    return f"/api/v4/secrets?environment=prod&projectId={project_id}&recursive=false&secretPath=%2Fopenrouter"


def _go_list_url(project_id: str) -> str:
    # GetPlainTextSecretsViaMachineIdentity: IncludeImports and ExpandSecretReferences always true.
    return (
        "/api/v3/secrets/raw?environment=prod&expandSecretReferences=true&include_imports=true&recursive=false"
        f"&secretPath=%2Fopenrouter&workspaceId={project_id}&workspaceSlug="
    )


def test_static_secret_decodes_the_v4_list(anon_client, deployment):
    response = anon_client.get(_static_url(deployment.project_id), headers=deployment.headers(OPERATOR))
    assert response.status_code == 200, response.text
    body = go_json(response, OPERATOR_LIST)
    (secret,) = body["secrets"]
    assert (secret["secretKey"], secret["type"], secret["environment"], secret["secretPath"]) == (
        SECRET,
        "shared",
        "prod",
        PATH,
    )
    assert secret["id"] and secret["secretValue"].startswith("sk-or-v1-") and body["imports"] == []


def test_static_secret_by_project_slug_reads_the_id_from_the_v1_lookup(anon_client, deployment):
    project = anon_client.get(f"/api/v1/projects/slug/{deployment.slug}", headers=deployment.headers(OPERATOR))
    found = go_json(project, OPERATOR_PROJECT)
    assert found["id"] == deployment.project_id and found["orgId"]
    assert [env["slug"] for env in found["environments"]] == ["dev", "staging", "prod"]
    listed = anon_client.get(_static_url(found["id"]), headers=deployment.headers(OPERATOR))
    assert [s["secretKey"] for s in go_json(listed, OPERATOR_LIST)["secrets"]] == [SECRET]


def test_static_secret_errors_log_in_again_or_back_off(anon_client, client, project, deployment):
    bad = anon_client.get(_static_url(deployment.project_id), headers={"Authorization": "Bearer expired"})
    assert bad.status_code == 401  # ErrUnauthorized: the operator drops its login and logs in again
    outsider = as_identity(client, project, "viewer", scope={"environments": ["dev"], "secretPaths": None})
    assert anon_client.get(_static_url(deployment.project_id), headers=outsider).status_code == 403
    missing = anon_client.get(
        "/api/v4/secrets?environment=prod&projectId=&secretPath=%2F", headers=deployment.headers(OPERATOR)
    )
    assert (missing.status_code, missing.json()["message"]) == (400, "Missing project id or environment")


def test_infisical_secret_skips_its_reconcile_on_a_304_until_a_rotation(anon_client, deployment, rotate):
    url, headers = _go_list_url(deployment.project_id), deployment.headers(GO_SDK)
    first = anon_client.get(url, headers=headers)  # ServerETag is empty at first: no If-None-Match sent
    assert first.status_code == 200, first.text
    server_etag = first.headers["etag"]
    assert [s["secretKey"] for s in go_json(first, GO_LIST)["secrets"]] == [SECRET]
    for _ in range(3):
        unchanged = anon_client.get(url, headers={**headers, "If-None-Match": server_etag})
        assert (unchanged.status_code, unchanged.content) == (304, b"")  # "Secrets unchanged (server ETag match)"
        assert unchanged.headers["etag"] == server_etag

    def served_version() -> int:
        response = anon_client.get(url, headers={**headers, "If-None-Match": server_etag})
        return 1 if response.status_code == 304 else go_json(response, GO_LIST)["secrets"][0]["version"]

    rotate(deployment, served_version)
    changed = anon_client.get(url, headers={**headers, "If-None-Match": server_etag})
    assert changed.status_code == 200 and changed.headers["etag"] != server_etag
    assert (
        go_json(changed, GO_LIST)["secrets"][0]["secretValue"] != go_json(first, GO_LIST)["secrets"][0]["secretValue"]
    )
    again = anon_client.get(url, headers={**headers, "If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304


def test_infisical_secret_by_project_slug_and_in_single_secret_mode(anon_client, deployment):
    headers = deployment.headers(OPERATOR)
    project = anon_client.get(f"/api/v2/workspace/{deployment.slug}", headers=headers)  # {hostAPI}/v2/workspace/…
    assert go_json(project, OPERATOR_PROJECT)["id"] == deployment.project_id
    one = anon_client.get(
        f"/api/v3/secrets/raw/{SECRET}?environment=prod&expandSecretReferences=true&include_imports=true"
        f"&secretPath=%2Fopenrouter&type=shared&workspaceId={deployment.project_id}",
        headers=deployment.headers(GO_SDK),
    )
    secret = go_json(one, GO_GET)["secret"]
    assert (secret["secretKey"], secret["type"], secret["secretPath"]) == (SECRET, "shared", PATH)
    assert secret["id"] and secret["secretValue"].startswith("sk-or-v1-")
