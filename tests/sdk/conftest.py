"""What every real-client test shares: the test app served on loopback, and a service identity with a rotation
to read (a viewer scoped to `prod`, logged in with universal auth as a deployed service would be)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn

from tests.sdk.live import Service, ok


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


@pytest.fixture
def service(client, project, connection) -> Service:
    identity = ok(client.post("/api/v1/identities", json={"name": "billing-api", "role": "no-access"}))["identity"]
    ua = ok(
        client.post(
            f"/api/v1/auth/universal-auth/identities/{identity['id']}",
            json={"accessTokenTTL": 3600, "accessTokenMaxTTL": 86400},
        )
    )["identityUniversalAuth"]
    client_secret = ok(
        client.post(
            f"/api/v1/auth/universal-auth/identities/{identity['id']}/client-secrets", json={"description": "sdk test"}
        )
    )["clientSecret"]
    ok(
        client.post(
            f"/api/v1/projects/{project['id']}/memberships/identities/{identity['id']}",
            json={"roles": [{"role": "viewer", "isTemporary": False}], "scope": {"environments": ["prod"]}},
        )
    )
    draft = Service(ua["clientId"], client_secret, project["id"], rotation_id="")
    rotation = ok(
        client.post(
            "/api/v2/secret-rotations/open-router-api-key",
            json={
                "name": "billing-openrouter",
                "projectId": project["id"],
                "connectionId": connection["id"],
                "environment": draft.environment,
                "secretPath": draft.secret_path,
                "rotationInterval": 30,
                "parameters": {"name": "billing-api"},
                "secretsMapping": {"apiKey": draft.secret_name},
            },
        )
    )["secretRotation"]
    return Service(ua["clientId"], client_secret, project["id"], rotation["id"])


@pytest.fixture
def rotate(client, service) -> Callable[[], None]:
    """Rotate the service's key now, through the API, as an operator would."""

    def rotate_now() -> None:
        ok(client.post(f"/api/v2/secret-rotations/open-router-api-key/{service.rotation_id}/rotate-secrets"))

    return rotate_now
