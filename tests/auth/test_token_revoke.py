"""`POST /api/v1/auth/token/revoke` as the go-sdk (External Secrets Operator, the agent) calls it (clients §8), and
the purge of token rows that can never authenticate again (app.auth.token_purge)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from app import db
from app.auth.token_purge import purge_dead_tokens
from app.auth.tokens import hash_token
from app.models import AccessToken
from app.timeutil import utcnow
from tests.factories import ADMIN_TOKEN, bearer, grant, make_machine, token_for

REVOKE = "/api/v1/auth/token/revoke"
SUCCESS = {"message": "Successfully revoked access token"}
GO_SDK = {"User-Agent": "infisical-go-sdk", "Content-Type": "application/json"}


def _viewer(client, project, **ua):
    machine = make_machine(client, ua=ua or {"accessTokenTTL": 3600, "accessTokenMaxTTL": 86400})
    grant(client, project["id"], machine.identity_id, "viewer")
    return machine


def _reads(anon, project, token) -> int:
    return anon.get(
        "/api/v3/secrets/raw",
        params={"workspaceId": project["id"], "environment": "dev", "secretPath": "/"},
        headers=bearer(token),
    ).status_code


def test_go_sdk_revoke_with_the_same_token_in_the_header(client, anon_client, project):
    token = token_for(anon_client, _viewer(client, project))
    assert _reads(anon_client, project, token) == 200
    response = anon_client.post(REVOKE, json={"accessToken": token}, headers={**GO_SDK, **bearer(token)})
    assert response.status_code == 200, response.text
    assert response.json() == SUCCESS
    assert _reads(anon_client, project, token) == 401
    again = anon_client.post(REVOKE, json={"accessToken": token}, headers={**GO_SDK, **bearer(token)})
    assert again.status_code == 401
    assert again.json()["message"] == "No identity access token found"


def test_revoke_needs_no_header_and_ignores_another_token_in_it(client, anon_client, project):
    machine = _viewer(client, project)
    first, second = token_for(anon_client, machine), token_for(anon_client, machine)
    assert anon_client.post(REVOKE, json={"accessToken": first}, headers={"Authorization": ""}).json() == SUCCESS
    assert anon_client.post(REVOKE, json={"accessToken": "x" * 43}, headers=bearer(second)).status_code == 401
    assert anon_client.post(REVOKE, json={"accessToken": second}, headers=bearer(ADMIN_TOKEN)).json() == SUCCESS
    assert [_reads(anon_client, project, t) for t in (first, second)] == [401, 401]


def _age(token: str, seconds: int) -> None:
    """Move a token's creation `seconds` into the past (renewals cleared)."""
    with db.unit_of_work() as session:
        row = session.exec(select(AccessToken).where(AccessToken.token_hash == hash_token(token))).one()
        created = row.created_at

        session.execute(
            update(AccessToken)
            .where(col(AccessToken.id) == row.id)
            .values(created_at=created - timedelta(seconds=seconds), last_renewed_at=None)
        )


def _rows() -> int:
    with db.unit_of_work() as session:
        return len(session.exec(select(AccessToken.id)).all())


def test_purge_deletes_revoked_and_long_expired_tokens_only(client, anon_client, project):
    hourly = _viewer(client, project)
    live = token_for(anon_client, hourly)
    revoked = token_for(anon_client, hourly)
    just_expired = token_for(anon_client, hourly)
    long_expired = token_for(anon_client, hourly)
    anon_client.post(REVOKE, json={"accessToken": revoked})
    _age(just_expired, 3600 + 60)  # expired a minute ago: kept, so it still answers "expired"
    _age(long_expired, 3600 + 3600 + 60)  # expired over an hour ago
    assert _rows() == 4
    assert purge_dead_tokens() == 2
    assert _rows() == 2
    assert _reads(anon_client, project, live) == 200
    expired = anon_client.get(f"/api/v1/projects/{project['id']}", headers=bearer(just_expired))
    assert expired.json()["message"] == "Identity access token has expired"
    assert purge_dead_tokens() == 0


def test_purge_is_bounded_per_call(client, anon_client, project):
    machine = _viewer(client, project)
    for _ in range(3):
        anon_client.post(REVOKE, json={"accessToken": token_for(anon_client, machine)})
    assert [purge_dead_tokens(limit=2), purge_dead_tokens(limit=2), purge_dead_tokens(limit=2)] == [2, 1, 0]


def test_purge_keeps_a_renewed_token_past_its_first_ttl(client, anon_client, project):
    machine = _viewer(client, project, accessTokenTTL=3600, accessTokenMaxTTL=86400 * 2)
    token = token_for(anon_client, machine)
    with db.unit_of_work() as session:
        row = session.exec(select(AccessToken).where(AccessToken.token_hash == hash_token(token))).one()

        now = utcnow()
        session.execute(
            update(AccessToken)
            .where(col(AccessToken.id) == row.id)
            .values(created_at=now - timedelta(hours=30), last_renewed_at=now - timedelta(minutes=5))
        )
    assert purge_dead_tokens() == 0
    assert _reads(anon_client, project, token) == 200


def test_the_worker_purges_on_every_poll(settings, client, anon_client, project):
    from app.rotation.worker import Worker

    anon_client.post(REVOKE, json={"accessToken": token_for(anon_client, _viewer(client, project))})
    assert _rows() == 1
    Worker(settings).tick()
    assert _rows() == 0
