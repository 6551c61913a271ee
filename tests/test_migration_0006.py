"""Revision 0006 on a database that already holds rotations: the backfill of `secret.rotation_generation`, and the
change feed's triggers on `secret` kept through upgrade and downgrade (a copied SQLite table would lose them)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, insert, inspect, text
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table)
from alembic import command
from app.db import normalise_url
from app.migrate import alembic_config

NOW = datetime(2026, 11, 28, tzinfo=UTC)
TABLES = SQLModel.metadata.tables


def _secret(secret_id: str, rotation_id: str | None) -> dict:
    return {
        "id": secret_id,
        "project_id": "p",
        "environment_id": "e",
        "secret_path": "/",
        "key": secret_id.upper(),
        "type": "shared",
        "version": 4,
        "encrypted_value": "sealed",
        "comment": "",
        "rotation_id": rotation_id,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _credential(cred_id: str, rotation_id: str, generation: int, state: str) -> dict:
    return {
        "id": cred_id,
        "rotation_id": rotation_id,
        "connection_id": "c",
        "provider": "open-router",
        "generation": generation,
        "copy_number": 0,
        "key_name": f"k-{generation}",
        "state": state,
        "created_at": NOW,
        "revoke_attempts": 0,
        "negative_scans": 0,
    }


def _seed(conn) -> None:
    conn.execute(
        insert(TABLES["project"]).values(
            id="p", name="p", slug="p", has_delete_protection=False, created_at=NOW, updated_at=NOW
        )
    )
    conn.execute(
        insert(TABLES["environment"]).values(
            id="e", project_id="p", name="Dev", slug="dev", position=1, created_at=NOW, updated_at=NOW
        )
    )
    conn.execute(
        insert(TABLES["app_connection"]).values(
            id="c",
            name="c",
            project_id="p",
            app="open-router",
            method="api-key",
            encrypted_credentials="sealed",
            credentials_hash="h",
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    credentials = [
        _credential("r1-g1", "r1", 1, "revoked"),
        _credential("r1-g2", "r1", 2, "inactive"),
        _credential("r1-g3", "r1", 3, "active"),
        _credential("r2-g1", "r2", 1, "revoking"),  # no active key: nothing to say which key the value is
    ]
    conn.execute(insert(TABLES["rotation_credential"]), credentials)
    # Only the columns revision 0005 has: the model already names rotation_generation.
    conn.execute(insert(TABLES["secret"]), [_secret("s1", "r1"), _secret("s2", "r2"), _secret("s3", None)])


def _triggers_on_secret(conn) -> set[str]:
    if conn.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'secret'"
    else:
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'secret'::regclass AND NOT tgisinternal"
    return set(conn.execute(text(query)).scalars())


def test_0006_backfills_generations_and_keeps_the_change_feed(db_url):
    config = alembic_config(db_url)
    engine = create_engine(normalise_url(db_url))
    try:
        command.downgrade(config, "0005")
        with engine.begin() as conn:
            triggers = _triggers_on_secret(conn)
            assert triggers, "the change feed's triggers should watch secret from 0003 on"
            _seed(conn)
        command.upgrade(config, "0006")
        with engine.begin() as conn:
            generations = dict(conn.execute(text("SELECT id, rotation_generation FROM secret")).all())
            assert generations == {"s1": 3, "s2": None, "s3": None}
            assert _triggers_on_secret(conn) == triggers
        command.downgrade(config, "0005")
        with engine.begin() as conn:
            assert "rotation_generation" not in {c["name"] for c in inspect(conn).get_columns("secret")}
            assert "secret_consumer" not in inspect(conn).get_table_names()
            assert _triggers_on_secret(conn) == triggers
            assert conn.execute(text("SELECT count(*) FROM secret")).scalar_one() == 3
    finally:
        command.upgrade(config, "head")
        with engine.begin() as conn:
            for table in ("secret", "rotation_credential", "app_connection", "environment", "project"):
                conn.execute(text(f"DELETE FROM {table}"))
        engine.dispose()
