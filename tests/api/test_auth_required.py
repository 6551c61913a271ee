"""Every endpoint in the OpenAPI document needs a bearer token, except the health probes, A1–A3 and /metrics (its own
token, or none on loopback: tests/api/test_metrics.py)."""

from __future__ import annotations

import re
import uuid

import pytest

from app.config import Settings
from app.main import create_app

PUBLIC = {
    ("GET", "/api/status"),
    ("GET", "/readyz"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/universal-auth/login"),
    ("POST", "/api/v1/auth/token/renew"),
    ("POST", "/api/v1/auth/token/revoke"),
}


def _operations() -> list[tuple[str, str]]:
    document = create_app(Settings(), configure=False).openapi()
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


OPERATIONS = [op for op in _operations() if op not in PUBLIC]


def test_the_walk_covers_the_identity_surface():
    paths = {path for _, path in OPERATIONS}
    assert "/api/v1/identities" in paths and "/api/v1/audit-logs" in paths
    assert all(op in _operations() for op in PUBLIC)


def _walk(client, headers: dict, message: str) -> list[str]:
    """Every operation once; the mismatches, each naming its operation."""
    wrong = []
    for method, path in OPERATIONS:
        response = client.request(method, _concrete(path), json={}, headers=headers)
        body = response.json()
        if (response.status_code, body.get("error"), body.get("message")) != (401, "UnauthorizedError", message):
            wrong.append(f"{method} {path}: {response.status_code} {body.get('message')}")
    return wrong


def test_401_without_a_token(anon_client):
    assert not _walk(anon_client, {}, "Token missing")


def test_401_with_an_unknown_token(anon_client):
    assert not _walk(anon_client, {"Authorization": "Bearer nope"}, "No identity access token found")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer   ", "Basic abc", "Token abc"])
def test_malformed_headers(anon_client, header):
    response = anon_client.get("/api/v1/identities", headers={"Authorization": header})
    assert response.status_code == 401 and response.json()["message"] == "Token missing"


def test_scheme_is_case_insensitive(anon_client):
    from tests.factories import ADMIN_TOKEN

    assert anon_client.get("/api/v1/identities", headers={"Authorization": f"bearer {ADMIN_TOKEN}"}).status_code == 200
