"""The Infisical CLI (≥ 0.43.100: `run`, `export`, `secrets`, `secrets get`), replayed request for request
(clients §3, clients §12): what it sends to the v4 list, and every field it decodes from the answer."""

from __future__ import annotations

from tests.clients.deployment import PATH, SECRET
from tests.clients.wire import CLI_LIST, go_json

UA = "cli"


def _run_url(project_id: str, recursive: str = "false", path: str = "%2Fopenrouter") -> str:
    # `infisical run --env=prod --path=/openrouter --projectId=…`: resty sorts the query keys.
    return (
        "/api/v4/secrets?environment=prod&expandSecretReferences=true&includeImports=true"
        f"&includePersonalOverrides=true&projectId={project_id}&recursive={recursive}&secretPath={path}"
    )


def test_run_export_and_secrets_get_their_variables_from_the_v4_list(anon_client, deployment):
    response = anon_client.get(_run_url(deployment.project_id), headers=deployment.headers(UA))
    assert response.status_code == 200, response.text
    body = go_json(response, CLI_LIST)
    (secret,) = body["secrets"]
    assert secret["secretKey"] == SECRET and secret["secretValue"].startswith("sk-or-v1-")
    assert secret["_id"] and secret["workspace"] == deployment.project_id
    assert (secret["version"], secret["type"], secret["environment"], secret["secretPath"]) == (
        1,
        "shared",
        "prod",
        PATH,
    )
    assert (secret["secretComment"], secret["skipMultilineEncoding"], secret["tags"]) == ("", False, [])
    assert body["imports"] == []  # an array, never null: the CLI walks it with --include-imports
    assert response.headers["etag"]


def test_run_recursive_and_the_root_path(anon_client, deployment):
    headers = deployment.headers(UA)
    deep = anon_client.get(_run_url(deployment.project_id, recursive="true", path="%2F"), headers=headers)
    assert [s["secretPath"] for s in go_json(deep, CLI_LIST)["secrets"]] == [PATH]
    flat = anon_client.get(_run_url(deployment.project_id, path="%2F"), headers=headers)
    assert go_json(flat, CLI_LIST) == {"secrets": [], "imports": []}


def test_run_watch_sees_a_rotation_on_its_next_poll(anon_client, deployment, rotate):
    """`run --watch` polls every 10 s and restarts its child when a key or value changes."""
    url, headers = _run_url(deployment.project_id), deployment.headers(UA)

    def served() -> dict:
        return go_json(anon_client.get(url, headers=headers), CLI_LIST)["secrets"][0]

    first = served()
    rotate(deployment, lambda: served()["version"])
    after = served()
    assert after["version"] == first["version"] + 1 and after["secretValue"] != first["secretValue"]


def test_errors_the_cli_prints_are_json_with_a_message(anon_client, deployment):
    headers = deployment.headers(UA)
    expired = anon_client.get(_run_url(deployment.project_id), headers={**headers, "Authorization": "Bearer gone"})
    assert expired.status_code == 401 and isinstance(expired.json()["message"], str)
    no_project = anon_client.get(_run_url(""), headers=headers)
    assert (no_project.status_code, no_project.json()["message"]) == (400, "Missing project id or environment")
    for marker in ("bot_not_found_error", "failed to find bot key", "bot is not active"):
        assert marker not in expired.text and marker not in no_project.text
