"""Every API replica delivers: `keyturn serve` with two web processes (KEYTURN_WEB_WORKERS=2) as a real process on
each database. A rotation's event reaches streams held by both processes within 1 s of rotate-now returning, and a
revoked token stops reading through both at once (their read caches hear of it from the change feed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.factories import (
    ADMIN_TOKEN,
    OR,
    ROOT_KEY,
    EventStream,
    bearer,
    grant,
    keyturn_server,
    make_machine,
    seed_body,
    token_for,
    wait_until,
)

STREAMS_PER_PROCESS = 2
SECRET = "OPEN_ROUTER_API_KEY"


@dataclass
class Server:
    url: str
    api: httpx.Client
    project: dict
    rotation: dict


@pytest.fixture
def server(db_url, openrouter, tmp_path) -> Iterator[Server]:
    env = {
        "KEYTURN_DATABASE_URL": db_url,
        "KEYTURN_ROOT_KEY": ROOT_KEY,
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_OPENROUTER_BASE_URL": openrouter.base_url,
        "KEYTURN_WORKER": "off",
        "KEYTURN_WEB_WORKERS": "2",
        "KEYTURN_CLIENT_SECRET_HASH_COST": "low",
        # A per-process limit this low proves which process holds a stream: twice as many open means both do.
        "KEYTURN_EVENTS_STREAMS_PER_CALLER": str(STREAMS_PER_PROCESS),
    }
    with keyturn_server(env, tmp_path, log=tmp_path / "keyturn.log") as (url, _):
        api = httpx.Client(base_url=url, headers=bearer(ADMIN_TOKEN), timeout=30)
        project = api.post("/api/v1/projects", json={"projectName": "replicas"}).json()["project"]
        connection = api.post(
            "/api/v1/app-connections/open-router",
            json={
                "name": "replicas",
                "method": "api-key",
                "projectId": project["id"],
                "credentials": {"apiKey": openrouter.create_management_key()},
            },
        ).json()["appConnection"]
        rotation = api.post(OR, json=seed_body(project, connection))
        assert rotation.status_code == 200, rotation.text
        try:
            yield Server(url, api, project, rotation.json()["secretRotation"])
        finally:
            api.close()


def _viewer_token(server: Server) -> str:
    machine = make_machine(server.api, "operator")
    grant(server.api, server.project["id"], machine.identity_id, "viewer")
    return token_for(server.api, machine)


def test_both_processes_deliver_a_rotation_within_one_second(server):
    token = _viewer_token(server)
    body = {
        "projectId": server.project["id"],
        "register": [{"event": "secret:update", "conditions": {"environmentSlug": "dev", "secretPath": "/**"}}],
    }
    streams: list[EventStream] = []
    try:
        # Each connection lands on either process; past a process's limit it answers 429, so keep trying until
        # both processes hold their share.
        def one_more() -> bool:
            stream = EventStream(server.url, token, body)
            if stream.response.status_code == 200:
                streams.append(stream)
            else:
                assert stream.response.status_code == 429, stream.response.text
            return len(streams) == 2 * STREAMS_PER_PROCESS

        wait_until(one_more, 60, "streams open on both processes", interval=0.05)
        for stream in streams:
            wait_until(stream.pings, 5, "the first ping")
        assert server.api.post(f"{OR}/{server.rotation['id']}/rotate-secrets").status_code == 200
        published = time.monotonic()
        wait_until(lambda: all(s.changes() for s in streams), 5, "the event on every stream", interval=0.01)
        latency = time.monotonic() - published
        assert latency < 1.0, f"the last stream heard of the rotation {latency:.2f} s after it was published"
        for stream in streams:
            (change,) = stream.changes()
            assert change["data"]["event"] == "secret:update"
            assert change["data"]["payload"][0]["secretKey"] == SECRET
    finally:
        for stream in streams:
            stream.close()


def test_a_revoked_token_stops_reading_on_every_process(server):
    token = _viewer_token(server)
    params = {"workspaceId": server.project["id"], "environment": "dev", "secretPath": "/"}
    readers = [httpx.Client(base_url=server.url, headers=bearer(token), timeout=10) for _ in range(8)]
    try:
        for reader in readers:  # each connection's process caches the caller
            for _ in range(3):
                assert reader.get(f"/api/v3/secrets/raw/{SECRET}", params=params).status_code == 200
        revoked = httpx.post(
            f"{server.url}/api/v1/auth/token/revoke", json={"accessToken": token}, headers=bearer(token)
        )
        assert revoked.status_code == 200, revoked.text
        for reader in readers:
            wait_until(
                lambda r=reader: r.get(f"/api/v3/secrets/raw/{SECRET}", params=params).status_code == 401,
                1,
                "the revoked token to be refused",
                interval=0.01,
            )
        assert {r.get(f"/api/v3/secrets/raw/{SECRET}", params=params).status_code for r in readers} == {401}
    finally:
        for reader in readers:
            reader.close()
