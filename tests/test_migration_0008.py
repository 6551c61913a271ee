"""Migration 0008 (issue 12 holds): keys stored before it get `superseded_at` from the next generation's publish time
and a queued key its hold clock from its not-before, on SQLite and PostgreSQL; and it downgrades cleanly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import MetaData, create_engine, inspect, select

from alembic import command
from app.db import normalise_url
from app.migrate import alembic_config, upgrade
from tests.test_migrations_revocation_policy import _store_rotation

NEW_COLUMNS = {
    "superseded_at",
    "revoke_due_at",
    "held_since",
    "hold_reason",
    "usage_baseline",
    "usage_baseline_at",
    "provider_last_used_at",
    "expires_at",
}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _credentials(url: str) -> MetaData:
    engine = create_engine(normalise_url(url))
    tables = MetaData()
    tables.reflect(engine, only=["rotation_credential", "secret_rotation"])
    engine.dispose()
    return tables


def _store_generations(url: str, rotation_id: str) -> None:
    """g1 revoking (queued when g3 was published), g2 inactive, g3 active, g4 pending: each published a day apart."""
    engine = create_engine(normalise_url(url))
    tables = _credentials(url).tables
    table = tables["rotation_credential"]
    with engine.connect() as conn:
        connection_id = conn.execute(select(tables["secret_rotation"].c.connection_id)).scalar()
    rows = []
    for generation, state in ((1, "revoking"), (2, "inactive"), (3, "active"), (4, "pending")):
        published = T0 + timedelta(days=generation) if state != "pending" else None
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "rotation_id": rotation_id,
                "connection_id": connection_id,
                "provider": "open-router",
                "generation": generation,
                "copy_number": 0,
                "key_name": f"k-g{generation}",
                "state": state,
                "created_at": T0,
                "published_at": published,
                "revoke_attempts": 0,
                "negative_scans": 0,
                "revoke_not_before": T0 + timedelta(days=3, minutes=5) if state == "revoking" else None,
            }
        )
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    engine.dispose()


def test_0008_backfills_supersession_and_the_hold_clock(empty_db_url):
    upgrade(empty_db_url, "0007")
    rotation_id = _store_rotation(empty_db_url)
    _store_generations(empty_db_url, rotation_id)

    upgrade(empty_db_url, "0008")

    table = _credentials(empty_db_url).tables["rotation_credential"]
    engine = create_engine(normalise_url(empty_db_url))
    with engine.connect() as conn:
        rows = {r.generation: r for r in conn.execute(select(table)).all()}
    engine.dispose()

    def utc(moment):
        return None if moment is None else moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

    assert utc(rows[1].superseded_at) == T0 + timedelta(days=2)  # when g2 was published
    assert utc(rows[2].superseded_at) == T0 + timedelta(days=3)
    assert rows[3].superseded_at is None and rows[4].superseded_at is None
    assert utc(rows[1].revoke_due_at) == T0 + timedelta(days=3, minutes=5)
    assert all(rows[g].revoke_due_at is None for g in (2, 3, 4))


def test_0008_downgrades_to_the_schema_before_it(empty_db_url):
    upgrade(empty_db_url, "0008")
    command.downgrade(alembic_config(empty_db_url), "0007")
    engine = create_engine(normalise_url(empty_db_url))
    columns = {c["name"] for c in inspect(engine).get_columns("rotation_credential")}
    rotation_columns = {c["name"] for c in inspect(engine).get_columns("secret_rotation")}
    engine.dispose()
    assert not NEW_COLUMNS & columns and "expiry_due_at" not in rotation_columns
