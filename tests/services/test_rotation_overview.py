"""The console's overview service on both databases: which rows a caller sees (permission per project,
environment and path), their status and order, the filters and pages done in SQL, and the page's counts."""

from __future__ import annotations

from sqlmodel import select

from app.auth.caller import Caller
from app.auth.principal import ADMIN, Grant
from app.db import unit_of_work
from app.models import Environment, RotationCredential, SecretRotation
from app.models.sealed import ROTATION_MESSAGE
from app.services.rotation_overview import overview
from app.timeutil import utcnow


def _add(
    project: dict,
    connection: dict,
    name: str,
    *,
    env="dev",
    path="/",
    failed=False,
    auto=True,
    held=False,
    rotation_type="open-router-api-key",
) -> str:
    now = utcnow()
    with unit_of_work() as session:
        environment = session.exec(
            select(Environment).where(Environment.project_id == project["id"], Environment.slug == env)
        ).one()
        rotation = SecretRotation(
            project_id=project["id"],
            environment_id=environment.id,
            secret_path=path,
            name=name,
            type=rotation_type,
            connection_id=connection["id"],
            parameters={"name": "k"},
            secrets_mapping={"apiKey": name.upper()},
            rotation_interval=30,
            is_auto_rotation_enabled=auto,
            last_rotation_attempted_at=now,
            last_rotated_at=now,
            next_rotation_at=now if auto else None,
        )
        if failed:
            rotation.rotation_status = "failed"
            rotation.last_rotation_message = ROTATION_MESSAGE.seal(rotation.id, f"{name} failed")
        session.add(rotation)
        session.add(
            RotationCredential(
                rotation_id=rotation.id,
                connection_id=connection["id"],
                provider="openrouter",
                generation=1,
                key_name=name,
                key_id=f"id-{name}",
                state="active",
                held_since=now if held else None,
            )
        )
        return rotation.id


def _names(page) -> list[str]:
    return [row.name for row in page.rows]


def _scoped(project: dict, **scope) -> Caller:
    grant = Grant(project["id"], frozenset({"viewer"}), **scope)
    return Caller(identity_id="viewer", grants={project["id"]: grant})


def test_failed_and_held_sort_first_then_paused(project, connection):
    _add(project, connection, "b-ok")
    _add(project, connection, "c-paused", auto=False)
    _add(project, connection, "d-held", held=True)
    _add(project, connection, "e-failed", failed=True, held=True)
    _add(project, connection, "a-ok")
    with unit_of_work() as session:
        page = overview(session, ADMIN)
    assert _names(page) == ["e-failed", "d-held", "c-paused", "a-ok", "b-ok"]
    assert [row.status for row in page.rows] == ["failed", "held", "paused", "ok", "ok"]
    assert page.rows[0].message == "e-failed failed" and page.rows[1].message is None
    assert page.rows[0].live_keys == 1 and page.projects == [(project["id"], project["name"])]


def test_status_filter_and_pages_are_counted_over_every_row(project, connection):
    for i in range(5):
        _add(project, connection, f"ok-{i}")
    _add(project, connection, "broken", failed=True)
    with unit_of_work() as session:
        second = overview(session, ADMIN, page=2, per_page=4)
        failed = overview(session, ADMIN, status="failed")
        beyond = overview(session, ADMIN, page=9, per_page=4)
    assert (second.total, second.pages, second.page, _names(second)) == (6, 2, 2, ["ok-3", "ok-4"])
    assert (failed.total, _names(failed)) == (1, ["broken"])
    assert beyond.page == 2 and _names(beyond) == ["ok-3", "ok-4"]


def test_a_scoped_caller_sees_only_its_environments_and_paths(project, connection):
    _add(project, connection, "dev-api", path="/api")
    _add(project, connection, "dev-web", path="/web/front")
    _add(project, connection, "prod-api", env="prod", path="/api")
    with unit_of_work() as session:
        by_env = overview(session, _scoped(project, environments=("dev",)))
        by_path = overview(session, _scoped(project, secret_paths=("/web/**",)))
        outsider = overview(session, Caller(identity_id="stranger"))
    assert _names(by_env) == ["dev-api", "dev-web"] and by_env.total == 2
    assert _names(by_path) == ["dev-web"] and by_path.projects == [(project["id"], project["name"])]
    assert (outsider.rows, outsider.total, outsider.projects) == ([], 0, [])


def test_rows_of_unknown_types_are_left_out(project, connection):
    _add(project, connection, "known")
    _add(project, connection, "retired", rotation_type="gone-api-key")
    with unit_of_work() as session:
        assert _names(overview(session, ADMIN)) == ["known"]
        assert _names(overview(session, ADMIN, provider="open-router", project_id=project["id"])) == ["known"]
        assert overview(session, ADMIN, provider="arouter").total == 0
