"""Numbers a column or a query cannot hold answer 422 in Infisical's shape, with `reqId` set, never 500
(issue 10, B7): integer request fields are bounded by their column, the audit log's offset and dates by
what the database can compare, and a secret read's `version` by what int() accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, get_args

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlmodel import select

from app import db
from app.models import Environment
from app.store import secrets as secrets_store
from tests.factories import create_identity, make_machine

HUGE = 2**63
INTEGER_MAX = 2**31 - 1  # PostgreSQL's INTEGER, the type of every integer column a request writes
INT32_PAST = INTEGER_MAX + 1


def _refused(response, field: str | None = None) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["statusCode"] == 422 and body["error"] == "ValidationFailure"
    assert body["reqId"] and body["reqId"] != "-"
    if field is not None:
        assert any(field in issue["path"] for issue in body["message"]), body
    return body


@pytest.mark.parametrize("value", [HUGE, INT32_PAST])
@pytest.mark.parametrize(
    "field", ["accessTokenNumUsesLimit", "accessTokenTTL", "accessTokenMaxTTL", "accessTokenPeriod"]
)
def test_universal_auth_integers_past_their_column_are_422(client, field, value):
    identity_id = create_identity(client)
    url = f"/api/v1/auth/universal-auth/identities/{identity_id}"
    _refused(client.post(url, json={field: value}), field)
    assert client.post(url, json={}).status_code == 200
    _refused(client.patch(url, json={field: value}), field)


@pytest.mark.parametrize("value", [HUGE, INT32_PAST])
@pytest.mark.parametrize("field", ["numUsesLimit", "ttl"])
def test_client_secret_integers_past_their_column_are_422(client, field, value):
    machine = make_machine(client)
    url = f"/api/v1/auth/universal-auth/identities/{machine.identity_id}/client-secrets"
    _refused(client.post(url, json={field: value}), field)


def test_the_largest_use_limit_a_column_holds_is_accepted(client):
    machine = make_machine(client)
    url = f"/api/v1/auth/universal-auth/identities/{machine.identity_id}/client-secrets"
    created = client.post(url, json={"numUsesLimit": 2**31 - 1})
    assert created.status_code == 200, created.text
    assert created.json()["clientSecretData"]["clientSecretNumUsesLimit"] == 2**31 - 1


@pytest.mark.parametrize("value", [HUGE, INT32_PAST])
def test_environment_position_past_its_column_is_422(client, project, value):
    url = f"/api/v1/projects/{project['id']}/environments"
    _refused(client.post(url, json={"name": "QA", "slug": "qa", "position": value}), "position")


@pytest.mark.parametrize(
    "params",
    [
        {"offset": HUGE},
        {"offset": 2**64},
        {"offset": "9" * 5000},
        {"offset": "\u00b2"},
        {"offset": "1.5"},
        {"limit": HUGE},
        {"startDate": "0000-01-01T00:00:00Z"},
        {"startDate": "10000-01-01T00:00:00Z"},
        {"endDate": "9999-12-31T23:59:59.999999-23:59"},
        {"startDate": "garbage"},
        {"startDate": str(HUGE)},
        {"startDate": "0001-01-01T00:00:00+01:00"},
    ],
)
def test_audit_log_paging_and_dates_out_of_range_are_422(client, params):
    _refused(client.get("/api/v1/audit-logs", params=params))


def test_audit_log_dates_at_the_edges_of_the_calendar_are_accepted(client):
    response = client.get(
        "/api/v1/audit-logs", params={"startDate": "0001-01-01T00:00:00Z", "endDate": "9999-12-31T00:00:00Z"}
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def stored_secret(project) -> str:
    with db.unit_of_work() as session:
        environment_id = session.exec(
            select(Environment.id).where(Environment.project_id == project["id"], Environment.slug == "prod")
        ).one()
        secrets_store.create_secret(
            session, project_id=project["id"], environment_id=environment_id, path="/", key="KEY", value="sk-or-v1-x"
        )
    return project["id"]


@pytest.mark.parametrize("version", ["²", "١", str(HUGE), str(2**64), str(INT32_PAST), "1" * 5000, "0"])
def test_secret_read_version_that_is_no_column_integer_is_422(client, stored_secret, version):
    """'²'.isdigit() is True, but int('²') raises; 2**63 does not fit SQLite's or PostgreSQL's integers."""
    params = {"workspaceId": stored_secret, "environment": "prod", "version": version}
    _refused(client.get("/api/v3/secrets/raw/KEY", params=params), "version")


def test_secret_read_version_within_the_column_is_looked_up(client, stored_secret):
    params = {"workspaceId": stored_secret, "environment": "prod", "version": str(2**31 - 1)}
    assert client.get("/api/v3/secrets/raw/KEY", params=params).status_code == 404
    params["version"] = "1"
    assert client.get("/api/v3/secrets/raw/KEY", params=params).json()["secret"]["secretValue"] == "sk-or-v1-x"


def _models_in(annotation, found: dict[str, type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation.__name__ not in found:
            found[annotation.__name__] = annotation
            for info in annotation.model_fields.values():
                _models_in(info.annotation, found)
        return
    for arg in get_args(annotation):
        _models_in(arg, found)


def _api_routes(routes) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI wraps an included router
        if included is not None:
            yield from _api_routes(included.routes)


def _request_models() -> list[type[BaseModel]]:
    """Every model a route reads from a request body, nested ones included (rotation parameters too)."""
    from app.config import Settings
    from app.main import create_app

    found: dict[str, type[BaseModel]] = {}
    for route in _api_routes(create_app(Settings(), configure=False).routes):
        if route.body_field is not None:
            _models_in(route.body_field.field_info.annotation, found)
    return list(found.values())


def _integer_fields() -> list[tuple[str, TypeAdapter]]:
    fields = []
    for model in _request_models():
        for name, info in model.model_fields.items():
            annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            if '"integer"' in json.dumps(TypeAdapter(annotation).json_schema()):
                fields.append((f"{model.__name__}.{name}", TypeAdapter(annotation)))
    return fields


def test_every_integer_request_field_stops_at_what_an_integer_column_holds():
    fields = _integer_fields()
    assert {"ClientSecretCreate.numUsesLimit", "UniversalAuthCreate.accessTokenNumUsesLimit"} <= {n for n, _ in fields}
    unbounded = []
    for name, adapter in fields:
        for value in (INTEGER_MAX + 1, HUGE):
            try:
                adapter.validate_python(value)
            except ValidationError:
                continue
            unbounded.append(f"{name}={value}")
    assert not unbounded
