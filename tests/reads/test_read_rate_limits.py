"""The read budget (issue 13 item 7, consumer §8): off by default; when set, a caller over it gets Infisical's
429 (integer Retry-After, x-ratelimit-* headers, the error body), on one-secret reads and lists alike, and
other callers are not touched."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from app import db
from app.models import Environment
from app.store import secrets as secrets_store
from tests.factories import as_identity, assert_rate_limited, bearer, grant, make_machine, token_for

NAME = "OPENROUTER_API_KEY"


@pytest.fixture
def secret(project) -> str:
    with db.unit_of_work() as session:
        env_id = session.exec(
            select(Environment.id).where(Environment.project_id == project["id"], Environment.slug == "prod")
        ).one()
        secrets_store.create_secret(
            session, project_id=project["id"], environment_id=env_id, path="/", key=NAME, value="sk-or-v1-first"
        )
    return project["id"]


def _one(project_id: str) -> str:
    return f"/api/v3/secrets/raw/{NAME}?workspaceId={project_id}&environment=prod&secretPath=%2F"


def _list(project_id: str) -> str:
    return f"/api/v3/secrets/raw?workspaceId={project_id}&environment=prod&secretPath=%2F"


def budget(burst: int, per_second: float):
    """Run the test with this read budget."""
    overrides = {"rate_limit_reads_burst": burst, "rate_limit_reads_per_second": per_second}
    return pytest.mark.parametrize("settings", [overrides], indirect=True, ids=[f"budget-{burst}"])


def test_reads_are_not_limited_by_default(client, project, secret, settings):
    assert settings.rate_limit_reads_per_second == 0
    reader = as_identity(client, project, "viewer")
    for n in range(settings.rate_limit_reads_burst + 20):  # past the burst a limit would have
        url = _one(secret) if n % 2 else _list(secret)
        assert client.get(url, headers=reader).status_code == 200


@budget(3, 0.1)  # no refill within the test
def test_a_caller_over_its_budget_gets_infisicals_429_on_reads_and_lists(client, project, secret):
    reader = as_identity(client, project, "viewer")
    first = client.get(_one(secret), headers=reader)
    assert first.status_code == 200
    # A conditional read that answers 304 spends a read too: it costs the same authentication and lookup.
    assert client.get(_one(secret), headers={**reader, "If-None-Match": first.headers["ETag"]}).status_code == 304
    assert client.get(_list(secret), headers=reader).status_code == 200
    assert_rate_limited(client.get(_list(secret), headers=reader), limit=3, longest=10)
    assert_rate_limited(client.get(_one(secret), headers=reader), limit=3, longest=10)


@budget(2, 0.1)
def test_the_budget_is_the_identitys_and_other_callers_keep_theirs(client, project, secret):
    machine = make_machine(client, "billing-api")
    grant(client, project["id"], machine.identity_id, "viewer")
    reader = bearer(token_for(client, machine))
    for _ in range(2):
        assert client.get(_one(secret), headers=reader).status_code == 200
    assert_rate_limited(client.get(_one(secret), headers=reader), limit=2, longest=10)
    # A new token of the same identity shares its budget: a fleet sharing one identity shares one budget ...
    assert client.get(_one(secret), headers=bearer(token_for(client, machine))).status_code == 429
    # ... while another identity, and the admin token, read on.
    assert (
        client.get(_one(secret), headers=as_identity(client, project, "viewer", name="search-api")).status_code == 200
    )
    assert client.get(_one(secret)).status_code == 200


@budget(1, 2.0)  # a token every 500 ms: the second read comes well within it, even on a loaded CI machine
def test_a_client_that_waits_retry_after_reads_again(client, project, secret):
    reader = as_identity(client, project, "viewer")
    assert client.get(_one(secret), headers=reader).status_code == 200
    retry_after = assert_rate_limited(client.get(_one(secret), headers=reader), limit=1, longest=1)
    time.sleep(0.6)  # within Retry-After, which rounds the 500 ms wait up to a whole second
    assert retry_after == 1
    assert client.get(_one(secret), headers=reader).status_code == 200


@budget(1, 0.1)
def test_a_bad_token_is_a_401_and_spends_nothing(client, project, secret):
    reader = as_identity(client, project, "viewer")
    for _ in range(3):
        assert client.get(_one(secret), headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get(_one(secret), headers=reader).status_code == 200
