"""The official Python SDK (`infisicalsdk`) against a real keyturn server on loopback: universal-auth login,
read by name, list, a rotation seen on the next uncached read, and the SDK's errors for 401 and 403."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from infisical_sdk import InfisicalSDKClient
from infisical_sdk.infisical_requests import APIError

SECRET_NAME = "OPENROUTER_API_KEY"
PATH = "/openrouter"


@pytest.fixture
def server_url(app) -> Iterator[str]:
    """The test app served by uvicorn on a free loopback port, in a thread."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "keyturn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/"  # a trailing slash, as some users configure it
    server.should_exit = True
    thread.join(10)


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def service(client, project, connection) -> dict:
    """A viewer identity scoped to `prod`, with universal auth and a client secret, and a rotation to read."""
    identity = _ok(client.post("/api/v1/identities", json={"name": "billing-api", "role": "no-access"}))["identity"]
    ua = _ok(
        client.post(
            f"/api/v1/auth/universal-auth/identities/{identity['id']}",
            json={"accessTokenTTL": 3600, "accessTokenMaxTTL": 86400},
        )
    )["identityUniversalAuth"]
    client_secret = _ok(
        client.post(
            f"/api/v1/auth/universal-auth/identities/{identity['id']}/client-secrets", json={"description": "sdk test"}
        )
    )["clientSecret"]
    _ok(
        client.post(
            f"/api/v1/projects/{project['id']}/memberships/identities/{identity['id']}",
            json={"roles": [{"role": "viewer", "isTemporary": False}], "scope": {"environments": ["prod"]}},
        )
    )
    rotation = _ok(
        client.post(
            "/api/v2/secret-rotations/open-router-api-key",
            json={
                "name": "billing-openrouter",
                "projectId": project["id"],
                "connectionId": connection["id"],
                "environment": "prod",
                "secretPath": PATH,
                "rotationInterval": 30,
                "parameters": {"name": "billing-api"},
                "secretsMapping": {"apiKey": SECRET_NAME},
            },
        )
    )["secretRotation"]
    return {
        "client_id": ua["clientId"],
        "client_secret": client_secret,
        "project_id": project["id"],
        "rotation_id": rotation["id"],
    }


def _sdk(server_url: str, service: dict) -> InfisicalSDKClient:
    sdk = InfisicalSDKClient(host=server_url, cache_ttl=None)
    sdk.auth.universal_auth.login(client_id=service["client_id"], client_secret=service["client_secret"])
    return sdk


def test_sdk_reads_lists_and_sees_a_rotation_with_a_higher_version(server_url, service, client):
    sdk = _sdk(server_url, service)
    first = sdk.secrets.get_secret_by_name(
        secret_name=SECRET_NAME, project_id=service["project_id"], environment_slug="prod", secret_path=PATH
    )
    assert first.secretKey == SECRET_NAME and first.secretValue and first.version == 1
    assert first.workspace == service["project_id"] and first.environment == "prod"

    listed = sdk.secrets.list_secrets(project_id=service["project_id"], environment_slug="prod", secret_path=PATH)
    assert [(s.secretKey, s.secretValue) for s in listed.secrets] == [(SECRET_NAME, first.secretValue)]

    _ok(client.post(f"/api/v2/secret-rotations/open-router-api-key/{service['rotation_id']}/rotate-secrets"))
    deadline = time.monotonic() + 1  # PostgreSQL delivers the change notice within milliseconds
    while True:
        second = sdk.secrets.get_secret_by_name(
            secret_name=SECRET_NAME, project_id=service["project_id"], environment_slug="prod", secret_path=PATH
        )
        if second.version > first.version or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert second.version > first.version
    assert second.secretValue != first.secretValue
    assert second.updatedAt >= first.updatedAt


def test_sdk_wrong_client_secret_is_a_401_api_error(server_url, service):
    sdk = InfisicalSDKClient(host=server_url, cache_ttl=None)
    with pytest.raises(APIError) as raised:
        sdk.auth.universal_auth.login(client_id=service["client_id"], client_secret="not-the-secret")
    assert raised.value.status_code == 401


def test_sdk_viewer_scoped_to_prod_gets_403_on_dev(server_url, service):
    sdk = _sdk(server_url, service)
    with pytest.raises(APIError) as raised:
        sdk.secrets.get_secret_by_name(
            secret_name=SECRET_NAME, project_id=service["project_id"], environment_slug="dev", secret_path=PATH
        )
    assert raised.value.status_code == 403
