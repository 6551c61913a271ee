"""Migration 0007 (rotation §14k): a rotation stored before it gets mode `scheduled` with today's defaults, so its
behaviour stays the same, on SQLite and PostgreSQL; and it downgrades cleanly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from alembic import command
from app.db import normalise_url
from app.migrate import alembic_config, upgrade

REVISION = "0007"
LEGACY = {
    "revocation_mode": "scheduled",
    "revocation_min_overlap_seconds": 300,
    "revocation_hold_while_in_use": True,
    "revocation_quiet_seconds": 600,
    "revocation_max_hold_seconds": 86400,
    "revocation_key_lifetime_seconds": None,
}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request, tmp_path) -> Iterator[str]:
    """A database with no schema at all, so it can be migrated step by step (the shared ones are at head)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'steps.db'}"
        return
    session_url = make_url(normalise_url(request.getfixturevalue("postgres_database")))  # skips or fails as set
    name = f"{session_url.database}_steps_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(session_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield session_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _previous_revision(url: str) -> str:
    down = ScriptDirectory.from_config(alembic_config(url)).get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


def _store_rotation(url: str) -> str:
    """A project, environment, connection and rotation written with the schema before 0007."""
    engine = create_engine(normalise_url(url))
    tables = MetaData()
    tables.reflect(engine, only=["project", "environment", "app_connection", "secret_rotation"])
    now = datetime.now(UTC)
    ids = {name: str(uuid.uuid4()) for name in ("project", "environment", "connection", "rotation")}
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        conn.execute(
            tables.tables["project"].insert(),
            {"id": ids["project"], "name": "p", "slug": "p", "has_delete_protection": False, **stamps},
        )
        conn.execute(
            tables.tables["environment"].insert(),
            {"id": ids["environment"], "project_id": ids["project"], "name": "Dev", "slug": "dev", "position": 1}
            | stamps,
        )
        conn.execute(
            tables.tables["app_connection"].insert(),
            {
                "id": ids["connection"],
                "name": "c",
                "app": "open-router",
                "method": "api-key",
                "encrypted_credentials": "sealed",
                "credentials_hash": "h",
                "version": 1,
                **stamps,
            },
        )
        conn.execute(
            tables.tables["secret_rotation"].insert(),
            {
                "id": ids["rotation"],
                "project_id": ids["project"],
                "environment_id": ids["environment"],
                "secret_path": "/",
                "name": "old",
                "type": "open-router-api-key",
                "connection_id": ids["connection"],
                "parameters": {"name": "k"},
                "secrets_mapping": {"apiKey": "K"},
                "is_auto_rotation_enabled": True,
                "rotation_interval": 30,
                "rotate_at_hours": 0,
                "rotate_at_minutes": 0,
                "active_index": 0,
                "rotation_status": "success",
                "last_rotation_attempted_at": now,
                "last_rotated_at": now,
                "is_last_rotation_manual": True,
                "next_generation": 2,
                "failed_attempts": 0,
                **stamps,
            },
        )
    engine.dispose()
    return ids["rotation"]


def _policy_columns(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    names = {c["name"] for c in inspect(engine).get_columns("secret_rotation") if c["name"].startswith("revocation_")}
    engine.dispose()
    return names


def test_an_existing_rotation_migrates_to_scheduled_with_the_defaults(empty_db_url):
    upgrade(empty_db_url, _previous_revision(empty_db_url))
    assert _policy_columns(empty_db_url) == set()
    rotation_id = _store_rotation(empty_db_url)

    upgrade(empty_db_url, REVISION)

    engine = create_engine(normalise_url(empty_db_url))
    table = MetaData()
    table.reflect(engine, only=["secret_rotation"])
    rotations = table.tables["secret_rotation"]
    with engine.connect() as conn:
        row = conn.execute(select(rotations).where(rotations.c.id == rotation_id)).mappings().one()
    engine.dispose()
    assert {name: row[name] for name in LEGACY} == LEGACY
    assert row["name"] == "old" and row["rotation_interval"] == 30  # nothing else moved


def test_0007_downgrades_to_the_schema_before_it(empty_db_url):
    upgrade(empty_db_url, REVISION)
    assert _policy_columns(empty_db_url) == set(LEGACY)
    command.downgrade(alembic_config(empty_db_url), _previous_revision(empty_db_url))
    assert _policy_columns(empty_db_url) == set()
