"""Bodies are checked before routing and authentication (issue 10 B3, B7): a size limit answered with 413,
JSON that must parse, and no unexpected exception escaping as a traceback."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

LOGIN = "/api/v1/auth/universal-auth/login"


def _shape(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status and body["error"] == error
    assert body["reqId"].startswith("req-")
    return body


def test_a_login_body_over_64_kib_is_413_before_anything_reads_it(anon_client):
    response = anon_client.post(LOGIN, content=b"{" + b" " * (65 * 1024) + b"}")
    _shape(response, 413, "PayloadTooLarge")


def test_a_body_over_1_mib_is_413_even_with_a_valid_token(client):
    response = client.post("/api/v1/projects", content=b'{"projectName": "' + b"x" * (1024 * 1024) + b'"}')
    _shape(response, 413, "PayloadTooLarge")


def test_a_chunked_body_is_counted_as_it_arrives(anon_client):
    def chunks():
        for _ in range(100):
            yield b" " * 1024

    response = anon_client.post(LOGIN, content=chunks(), headers={"Content-Type": "application/json"})
    _shape(response, 413, "PayloadTooLarge")


def test_bodies_under_the_limit_pass(client):
    # Unknown keys are dropped, so this 100 KB body is a valid create.
    response = client.post("/api/v1/projects", json={"projectName": "x", "padding": "d" * 100_000})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [b"[" * 50_000 + b"]" * 50_000, b'{"projectName": ', b"not json at all", b'{"projectName": "\xff"}'],
    ids=["50000-deep", "truncated", "text", "invalid-utf8"],
)
def test_a_body_that_is_not_json_is_422_before_authentication(anon_client, body):
    body = _shape(anon_client.post("/api/v1/projects", content=body), 422, "ValidationFailure")
    assert body["message"][0]["code"] == "invalid_json"


def test_form_bodies_still_reach_login(anon_client):
    response = anon_client.post(
        LOGIN,
        content=b"clientId=nobody&clientSecret=wrong",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401, response.text


def test_an_unexpected_error_is_a_500_with_its_request_id_and_no_text_in_the_log(app, client, monkeypatch, caplog):
    from app.services import projects

    def explode(*_args, **_kwargs):
        raise RuntimeError("text-that-may-carry-a-secret")

    monkeypatch.setattr(projects, "list_projects", explode)
    caplog.set_level(logging.DEBUG)
    # raise_server_exceptions=True: the test fails if the exception escapes the app.
    with TestClient(app, raise_server_exceptions=True) as strict:
        response = strict.get("/api/v1/projects", headers={"Authorization": client.headers["Authorization"]})
    _shape(response, 500, "InternalServerError")
    assert "text-that-may-carry-a-secret" not in caplog.text
    assert "RuntimeError" in caplog.text


def post_json(client, url: str, body: dict):
    """json.dumps escapes a lone surrogate as \\ud800, as a hostile client would send it."""
    return client.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"})


POISON = ["\ud800", "nul\u0000", "bell\u0007", "\u202eevil", "\u2066isolate"]


@pytest.mark.parametrize("text", POISON, ids=["surrogate", "nul", "control", "bidi-override", "bidi-isolate"])
def test_poison_text_in_any_body_field_is_422_and_nothing_is_written(client, project, connection, text):
    rotation = {
        "name": "r1",
        "projectId": project["id"],
        "connectionId": connection["id"],
        "environment": "dev",
        "secretPath": "/",
        "parameters": {"name": text},
        "secretsMapping": {"apiKey": "OPEN_ROUTER_API_KEY"},
    }
    response = post_json(client, "/api/v2/secret-rotations/open-router-api-key", rotation)
    assert _shape(response, 422, "ValidationFailure")["message"][0]["path"] == ["parameters", "name"]
    listed = client.get("/api/v2/secret-rotations", params={"projectId": project["id"]})
    assert listed.status_code == 200 and listed.json()["secretRotations"] == []

    response = post_json(client, "/api/v1/projects", {"projectName": "p2", "projectDescription": text})
    _shape(response, 422, "ValidationFailure")
    assert [p["name"] for p in client.get("/api/v1/projects").json()["projects"]] == [project["name"]]

    identity = client.post("/api/v1/identities", json={"name": "svc"}).json()["identity"]["id"]
    membership = {"roles": [{"role": "viewer"}], "scope": {"secretPaths": [f"/a/{text}"]}}
    response = post_json(client, f"/api/v1/projects/{project['id']}/memberships/identities/{identity}", membership)
    _shape(response, 422, "ValidationFailure")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/projects?type=%00",
        "/api/v1/projects?type=%ff%fe",
        "/api/v1/audit-logs?actor=%E2%80%AE",
        "/api/v1/projects/%01",
        "/api/v3/secrets/raw?workspaceId=x&environment=%ed%a0%80",
    ],
    ids=["nul", "not-utf8", "bidi", "control-in-path", "encoded-surrogate"],
)
def test_poison_text_in_the_url_is_422_before_authentication(anon_client, url):
    _shape(anon_client.get(url), 422, "ValidationFailure")


def test_form_fields_are_checked_too(anon_client):
    response = anon_client.post(
        LOGIN,
        content=b"clientId=%00&clientSecret=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _shape(response, 422, "ValidationFailure")


def test_tabs_and_newlines_are_ordinary_text(client):
    response = client.post("/api/v1/projects", json={"projectName": "tabs", "projectDescription": "a\tb\nc\r\n"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("padding", ["", "&pad=" + "x" * 600], ids=["short", "longer-than-the-cached-ones"])
def test_a_poisoned_query_is_refused_however_often_it_comes(anon_client, padding):
    for _ in range(3):
        _shape(anon_client.get(f"/api/v3/secrets/raw?workspaceId=x&environment=%00{padding}"), 422, "ValidationFailure")
        clean = anon_client.get(f"/api/v3/secrets/raw?workspaceId=x&environment=prod{padding}")
        assert clean.status_code == 401, clean.text
