"""The schema comes only from Alembic: migrations build it from nothing on SQLite and PostgreSQL,
and the models match the migrations exactly (no autogenerate drift)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app.db import normalise_url


def test_upgrade_head_builds_every_table(db_url):
    engine = create_engine(normalise_url(db_url))
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_match_migrations(db_url):
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_the_start_up_check_finds_the_same_head_as_alembic():
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
