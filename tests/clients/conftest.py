"""A deployment as the clients meet it: a project with a real OpenRouter rotation whose key is published at
prod:/openrouter/OPENROUTER_API_KEY, and a machine identity, logged in through universal auth, allowed to read it."""

from __future__ import annotations

import pytest

from tests.clients.deployment import ENVIRONMENT, PATH, SECRET, Deployment
from tests.factories import OR, grant, make_machine, post_rotation, token_for, wait_until


@pytest.fixture
def deployment(client, project, connection) -> Deployment:
    rotation = post_rotation(
        client,
        project,
        connection,
        environment=ENVIRONMENT,
        secretPath=PATH,
        secretsMapping={"apiKey": SECRET},
    )
    machine = make_machine(client, "payments-api")
    grant(client, project["id"], machine.identity_id, "viewer")
    return Deployment(project["id"], project["slug"], rotation["id"], token_for(client, machine))


@pytest.fixture
def rotate(client):
    """Rotate now (R10), then wait until `read()` (which returns the served version) shows the new version: on
    PostgreSQL the read cache hears of the commit by NOTIFY."""

    def run(deployment: Deployment, read) -> None:
        before = read()
        response = client.post(f"{OR}/{deployment.rotation_id}/rotate-secrets")
        assert response.status_code == 200, response.text
        wait_until(lambda: read() > before, timeout=5, what="the rotated key to be served")

    return run
