"""violation_as: a constraint violation becomes the domain error and leaves the request transaction usable."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app import db
from app.errors import BadRequest
from app.models import Project
from app.services.constraints import violation_as
from app.timeutil import utcnow


def _project(slug: str) -> Project:
    now = utcnow()
    return Project(name=slug, slug=slug, created_at=now, updated_at=now)


def _slugs() -> list[str]:
    with db.unit_of_work() as session:
        return sorted(session.exec(select(Project.slug)).all())


def test_duplicate_becomes_the_error_and_the_transaction_goes_on(app):
    with db.unit_of_work() as session:
        session.add(_project("taken"))
    with db.unit_of_work() as session:
        with pytest.raises(BadRequest, match="duplicate"), violation_as(session, BadRequest("duplicate")):
            session.add(_project("taken"))
        session.add(_project("after"))
    assert _slugs() == ["after", "taken"]


def test_writes_in_the_savepoint_roll_back_with_the_request(app):
    """pysqlite: a SAVEPOINT before any write must not become the transaction, or its release commits."""

    class Refused(Exception):
        pass

    with pytest.raises(Refused), db.unit_of_work() as session:
        with violation_as(session, BadRequest("duplicate")):
            session.add(_project("first"))
        raise Refused
    assert _slugs() == []


def test_duplicate_slug_past_the_check_is_the_same_400(client, monkeypatch):
    """A concurrent writer taking the slug between the check and the insert (simulated by a check that misses)."""
    from app.services import projects

    assert client.post("/api/v1/projects", json={"projectName": "a", "slug": "same-slug"}).status_code == 200
    monkeypatch.setattr(projects, "_slug_taken", lambda *_args, **_kwargs: False)
    response = client.post("/api/v1/projects", json={"projectName": "b", "slug": "same-slug"})
    assert response.status_code == 400
    assert response.json()["message"].startswith('A project with the slug "same-slug" already exists')
    assert [p["name"] for p in client.get("/api/v1/projects").json()["projects"]] == ["a"]
