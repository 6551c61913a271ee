"""Migration 0009 (webhooks): it keeps the credential rows it finds, with nothing noted yet, and downgrades cleanly
on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import MetaData, create_engine, inspect, select

from alembic import command
from app.db import normalise_url
from app.migrate import alembic_config, upgrade
from tests.test_migration_0008 import _store_generations
from tests.test_migrations_revocation_policy import _store_rotation

NEW_COLUMNS = {"revocation_failure_notified_at", "expiry_notified_at"}


def test_0009_keeps_existing_keys_with_nothing_noted(empty_db_url):
    upgrade(empty_db_url, "0008")
    _store_generations(empty_db_url, _store_rotation(empty_db_url))
    upgrade(empty_db_url, "0009")
    engine = create_engine(normalise_url(empty_db_url))
    tables = MetaData()
    tables.reflect(engine, only=["rotation_credential", "webhook", "webhook_delivery"])
    with engine.connect() as conn:
        rows = conn.execute(select(tables.tables["rotation_credential"])).all()
    engine.dispose()
    assert len(rows) == 4
    assert all(row.revocation_failure_notified_at is None and row.expiry_notified_at is None for row in rows)


def test_0009_downgrades_to_the_schema_before_it(empty_db_url):
    upgrade(empty_db_url, "0009")
    command.downgrade(alembic_config(empty_db_url), "0008")
    engine = create_engine(normalise_url(empty_db_url))
    inspector = inspect(engine)
    columns = {c["name"] for c in inspector.get_columns("rotation_credential")}
    tables = set(inspector.get_table_names())
    engine.dispose()
    assert not NEW_COLUMNS & columns and not {"webhook", "webhook_delivery"} & tables
