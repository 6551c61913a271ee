"""The error shape on the routes this part serves: unknown routes, wrong methods, bad bodies, no 500s."""

from __future__ import annotations

import re

import pytest

REQ_ID = re.compile(r"^req-[A-Za-z0-9]{14}$")


def _shape(response, status: int, error: str) -> dict:
    body = response.json()
    assert response.status_code == status
    assert set(body) >= {"reqId", "statusCode", "message", "error"}
    assert REQ_ID.match(body["reqId"]) and body["statusCode"] == status and body["error"] == error
    assert response.headers["content-type"].startswith("application/json")
    return body


def test_unknown_route_is_404_in_the_error_shape(client):
    body = _shape(client.get("/api/v1/no-such-thing"), 404, "NotFound")
    assert body["message"] == "Route not found"
    _shape(client.get("/api/v1/app-connections/no-such-app"), 404, "NotFound")


def test_wrong_method_is_405_in_the_error_shape(client):
    _shape(client.put("/api/v1/projects", json={}), 405, "MethodNotAllowed")
    _shape(client.delete("/api/v1/app-connections/options"), 405, "MethodNotAllowed")


def test_malformed_json_is_422(client):
    response = client.post(
        "/api/v1/projects", content=b'{"projectName": ', headers={"Content-Type": "application/json"}
    )
    body = _shape(response, 422, "ValidationFailure")
    assert isinstance(body["message"], list) and body["message"]


def test_non_object_json_is_422(client):
    _shape(client.post("/api/v1/projects", json=["billing"]), 422, "ValidationFailure")


def test_body_without_content_type_is_read_as_json(client):
    response = client.post("/api/v1/projects", content=b'{"projectName": "curl-style"}')
    assert response.status_code == 200
    assert response.json()["project"]["name"] == "curl-style"


def test_trailing_slash_is_the_same_route(client, project):
    response = client.get(f"/api/v1/projects/{project['id']}/")
    assert response.status_code == 200 and response.json()["project"]["id"] == project["id"]


def test_missing_token_is_401_everywhere(anon_client):
    for method, path in [
        ("GET", "/api/v1/organization"),
        ("GET", "/api/v1/projects"),
        ("POST", "/api/v1/projects"),
        ("GET", "/api/v1/app-connections/options"),
        ("GET", "/api/v1/app-connections"),
        ("GET", "/api/v1/app-connections/open-router"),
        ("DELETE", "/api/v1/app-connections/open-router/not-a-uuid"),
    ]:
        body = _shape(anon_client.request(method, path), 401, "UnauthorizedError")
        assert body["message"] == "Token missing"


def test_wrong_token_is_401(anon_client):
    response = anon_client.get("/api/v1/projects", headers={"Authorization": "Bearer wrong"})
    _shape(response, 401, "UnauthorizedError")


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/api/v1/projects", {"projectName": None, "slug": 12, "hasDeleteProtection": {}}),
        ("POST", "/api/v1/projects", {"projectName": "x" * 10000}),
        ("PATCH", "/api/v1/projects/\u00e9\u00e9", {"slug": ["a"]}),
        ("POST", "/api/v1/projects/x/environments", {"position": "first"}),
        ("POST", "/api/v1/app-connections/open-router", {"name": {}, "credentials": []}),
        ("PATCH", "/api/v1/app-connections/open-router/00000000-0000-0000-0000-000000000000", {"credentials": 1}),
        ("GET", "/api/v1/app-connections/open-router/connection-name/%00", None),
        ("GET", "/api/v1/app-connections?projectId=%00", None),
        ("GET", "/api/v1/app-connections/open-router/connection-name/x?projectId=%00", None),
        ("GET", "/api/v1/app-connections/open-router/available?projectId=%00", None),
        ("GET", "/api/v1/projects/%00", None),
        ("DELETE", "/api/v1/projects/%00", None),
        ("POST", "/api/v1/projects", {"projectName": "nul\u0000byte", "projectDescription": "\u0000"}),
        ("POST", "/api/v1/projects/%00/environments", {"name": "QA", "slug": "qa"}),
        (
            "POST",
            "/api/v1/app-connections/open-router",
            {"name": "nul", "method": "api-key", "credentials": {"apiKey": "sk-or\u0000-v1"}, "description": "\u0000"},
        ),
        (
            "POST",
            "/api/v1/app-connections/open-router",
            {"name": "nul", "method": "api-key", "credentials": {"apiKey": "sk-or\u0000-v1"}},
        ),
    ],
)
def test_hostile_input_never_answers_500(client, method, path, body):
    response = client.request(method, path, json=body)
    assert response.status_code < 500, response.text
    assert set(response.json()) >= {"reqId", "statusCode", "message", "error"} or response.status_code == 200
