"""Project events over server-sent events (clients §7), read by a real HTTP client (httpx, streaming) from a
real uvicorn server on loopback, on SQLite and PostgreSQL. Pings and re-checks are shortened by settings."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import (
    OR,
    EventStream,
    bearer,
    grant,
    make_machine,
    post_rotation,
    served,
    token_for,
    wait_until,
)

PING_SECONDS = 0.3
RECHECK_SECONDS = 0.3
SECRET = "OPEN_ROUTER_API_KEY"  # where the seed rotation maps its key: dev, "/"
LIMIT_MESSAGE = "Too many active connections for project {}. Please close some connections before opening a new one."


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"events_ping_seconds": PING_SECONDS, "events_recheck_seconds": RECHECK_SECONDS})


@pytest.fixture
def url(app, client) -> Iterator[str]:
    with served(app) as base:
        yield base


@pytest.fixture
def streams() -> Iterator[list[EventStream]]:
    opened: list[EventStream] = []
    yield opened
    for stream in opened:
        stream.close()


def body(project_id: str, *events: str, environment: str | None = "dev", path: str = "/**") -> dict:
    conditions = None if environment is None else {"environmentSlug": environment, "secretPath": path}
    register = [{"event": e, **({"conditions": conditions} if conditions else {})} for e in events]
    return {"projectId": project_id, "register": register}


ALL = ("secret:create", "secret:update", "secret:delete", "secret:import-mutation")


@pytest.fixture
def viewer(client, project) -> tuple[str, str]:
    """(identity id, access token) of a viewer of the project."""
    machine = make_machine(client, "operator")
    grant(client, project["id"], machine.identity_id, "viewer")
    return machine.identity_id, token_for(client, machine)


def subscribe(streams, url, token, payload) -> EventStream:
    stream = EventStream(url, token, payload)
    streams.append(stream)
    return stream


def test_stream_sends_its_headers_and_a_ping_at_once_then_pings(url, project, viewer, streams):
    stream = subscribe(streams, url, viewer[1], body(project["id"], *ALL))
    assert stream.response.status_code == 200
    headers = stream.response.headers
    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    wait_until(lambda: stream.pings() >= 1, 2, "the first ping")
    assert stream.frames[0] == {"event": "ping"}
    wait_until(lambda: stream.pings() >= 3, 5 * PING_SECONDS + 2, "pings every PING_SECONDS")


def test_rotation_publish_is_a_secret_update_event(url, client, project, connection, viewer, streams):
    rotation = post_rotation(client, project, connection)
    stream = subscribe(streams, url, viewer[1], body(project["id"], *ALL))
    wait_until(stream.pings, 2, "the first ping")
    assert client.post(f"{OR}/{rotation['id']}/rotate-secrets").status_code == 200
    published = time.monotonic()
    change = wait_until(stream.changes, 3, "the update event")[0]
    assert time.monotonic() - published < 1.0
    secret = client.get(
        f"/api/v3/secrets/raw/{SECRET}",
        params={"workspaceId": project["id"], "environment": "dev", "secretPath": "/"},
    ).json()["secret"]
    assert change == {
        "datacontenttype": "application/json",
        "type": "secret-manager",
        "source": "keyturn",
        "time": change["time"],
        "data": {
            "specversion": 1,
            "event": "secret:update",
            "payload": [{"secretId": secret["id"], "secretKey": SECRET, "secretPath": "/", "environment": "dev"}],
        },
    }
    frame = stream.named("secret-manager")[0]
    assert frame["id"] == change["time"]
    assert len(stream.changes()) == 1


def test_creating_and_deleting_a_rotation_are_create_and_delete_events(
    url, client, project, connection, viewer, streams
):
    stream = subscribe(streams, url, viewer[1], body(project["id"], *ALL))
    wait_until(stream.pings, 2, "the first ping")
    rotation = post_rotation(client, project, connection)
    created = wait_until(stream.changes, 3, "the create event")[0]["data"]
    assert created["event"] == "secret:create"
    assert [item["secretKey"] for item in created["payload"]] == [SECRET]
    assert client.delete(f"{OR}/{rotation['id']}?deleteSecrets=true").status_code == 200
    deleted = wait_until(lambda: stream.changes()[1:], 3, "the delete event")[0]["data"]
    assert deleted["event"] == "secret:delete"
    assert deleted["payload"] == created["payload"]


def test_only_matching_registrations_hear_a_change(url, client, project, connection, viewer, streams):
    rotation = post_rotation(client, project, connection)
    token = viewer[1]
    hearing = subscribe(streams, url, token, body(project["id"], "secret:update", path="/"))
    other_event = subscribe(streams, url, token, body(project["id"], "secret:create", "secret:delete"))
    other_env = subscribe(streams, url, token, body(project["id"], *ALL, environment="prod"))
    other_path = subscribe(streams, url, token, body(project["id"], *ALL, path="/openrouter/**"))
    unconditioned = subscribe(streams, url, token, body(project["id"], "secret:update", environment=None))
    for stream in streams:
        wait_until(stream.pings, 2, "the first ping")
    assert client.post(f"{OR}/{rotation['id']}/rotate-secrets").status_code == 200
    wait_until(hearing.changes, 3, "the matching stream's event")
    wait_until(unconditioned.changes, 3, "the event on a registration without conditions")
    pings = [s.pings() for s in streams]
    wait_until(lambda: all(s.pings() >= p + 2 for s, p in zip(streams, pings, strict=True)), 5, "two more pings")
    assert [len(s.changes()) for s in (other_event, other_env, other_path)] == [0, 0, 0]


def test_five_streams_per_caller_and_a_closed_one_frees_its_slot(url, project, viewer, streams):
    payload = body(project["id"], *ALL)
    for _ in range(5):
        assert subscribe(streams, url, viewer[1], payload).response.status_code == 200
    refused = subscribe(streams, url, viewer[1], payload).response
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    assert refused.json()["error"] == "RateLimitExceeded"
    assert refused.json()["message"] == LIMIT_MESSAGE.format(project["id"])
    streams[0].close()

    def reopened() -> bool:
        return subscribe(streams, url, viewer[1], payload).response.status_code == 200

    wait_until(reopened, 5, "the closed stream's slot to be free", interval=0.2)


def test_revoking_the_token_ends_the_stream_with_an_error_frame(url, project, viewer, streams):
    token = viewer[1]
    stream = subscribe(streams, url, token, body(project["id"], *ALL))
    wait_until(stream.pings, 2, "the first ping")
    # As the go-sdk revokes: the same token in the header and in the body.
    revoked = httpx.post(f"{url}/api/v1/auth/token/revoke", json={"accessToken": token}, headers=bearer(token))
    assert revoked.status_code == 200, revoked.text
    assert stream.ended.wait(5 * RECHECK_SECONDS + 3), "the stream did not end"
    error = stream.frames[-1]
    assert error["event"] == "error"
    assert error["data"]["type"] == "error"
    assert error["data"]["data"]["statusCode"] == 401
    assert error["data"]["data"]["message"] == "No identity access token found"


def test_removing_the_membership_ends_the_stream_with_a_403_frame(url, client, project, viewer, streams):
    identity_id, token = viewer
    stream = subscribe(streams, url, token, body(project["id"], *ALL))
    wait_until(stream.pings, 2, "the first ping")
    removed = client.delete(f"/api/v1/projects/{project['id']}/memberships/identities/{identity_id}")
    assert removed.status_code == 200
    assert stream.ended.wait(5 * RECHECK_SECONDS + 3), "the stream did not end"
    assert stream.frames[-1]["event"] == "error"
    assert stream.frames[-1]["data"]["data"]["statusCode"] == 403


def test_an_expired_token_ends_the_stream(url, client, project, streams):
    machine = make_machine(client, "short-lived", ua={"accessTokenTTL": 1, "accessTokenMaxTTL": 1})
    grant(client, project["id"], machine.identity_id, "viewer")
    stream = subscribe(streams, url, token_for(client, machine), body(project["id"], *ALL))
    assert stream.response.status_code == 200
    assert stream.ended.wait(1 + 5 * RECHECK_SECONDS + 3), "the stream did not end"
    assert stream.frames[-1]["data"]["data"]["message"] == "Identity access token has expired"


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"register": [{"event": "secret:update"}]}, ["projectId"]),
        ({"projectId": "  ", "register": [{"event": "secret:update"}]}, ["projectId"]),
        ({"projectId": "p", "register": []}, ["register"]),
        ({"projectId": "p", "register": [{"event": "secret:update"}] * 11}, ["register"]),
        ({"projectId": "p", "register": [{"event": "secret:rename"}]}, ["register", 0, "event"]),
        ({"projectId": "p", "register": [{"event": "secret:update", "conditions": {}}]}, None),
    ],
)
def test_bad_bodies_are_422(url, viewer, payload, path):
    response = httpx.post(f"{url}{EventStream.PATH}", json=payload, headers=bearer(viewer[1]))
    assert response.status_code == 422, response.text
    issues = response.json()["message"]
    expected = path if path is not None else ["register", 0, "conditions", "environmentSlug"]
    assert expected in [issue["path"] for issue in issues]


def test_no_token_is_401_before_the_body_is_read(url):
    response = httpx.post(f"{url}{EventStream.PATH}", json={})
    assert response.status_code == 401


def test_unknown_project_is_404(url, viewer):
    response = httpx.post(f"{url}{EventStream.PATH}", json=body("no-such-project", *ALL), headers=bearer(viewer[1]))
    assert response.status_code == 404


def test_outside_the_scope_is_403_with_details(url, client, project):
    machine = make_machine(client, "scoped")
    grant(client, project["id"], machine.identity_id, "viewer", {"environments": ["prod"], "secretPaths": ["/a/*"]})
    token = token_for(client, machine)
    allowed = httpx.Client(timeout=httpx.Timeout(10, read=None))
    try:
        with allowed.stream(
            "POST",
            f"{url}{EventStream.PATH}",
            json=body(project["id"], *ALL, environment="prod", path="/a/*"),
            headers=bearer(token),
        ) as response:
            assert response.status_code == 200  # the scope's own glob
    finally:
        allowed.close()
    response = httpx.post(
        f"{url}{EventStream.PATH}", json=body(project["id"], "secret:update", path="/a/*"), headers=bearer(token)
    )
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionDenied"
    assert response.json()["message"].startswith("You are not allowed to subscribe on secret-events")
    assert response.json()["details"] == {"action": "secret:update", "environmentSlug": "dev", "secretPath": "/a/*"}
    no_role = make_machine(client, "no-access")
    grant(client, project["id"], no_role.identity_id, "no-access")
    response = httpx.post(
        f"{url}{EventStream.PATH}", json=body(project["id"], *ALL), headers=bearer(token_for(client, no_role))
    )
    assert response.status_code == 403
