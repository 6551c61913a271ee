"""Alembic migrations, programmatically: `keyturn migrate`, the start-up check, and the tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.config import ConfigError
from app.db import is_sqlite, make_engine, normalise_url

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "alembic" / "versions"
# Alembic is imported only to migrate: the start-up check reads the revision files and the version table itself,
# so a worker or server that only checks never loads it (about 10 MiB of every worker's memory).
_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:\"([^\"]*)\"|'([^']*)'|None)", re.M)


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    make_engine(database_url).dispose()  # creates the SQLite directory if needed
    try:
        command.upgrade(alembic_config(database_url), revision)
    except SQLAlchemyError as exc:
        raise _unusable(database_url, exc) from None


def _unusable(database_url: str, exc: SQLAlchemyError) -> ConfigError:
    """One line naming the database (never its password) and the kind of failure."""
    url = make_url(normalise_url(database_url))
    where = (
        url.database
        if url.get_backend_name() == "sqlite"
        else f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
    )
    return ConfigError(f"cannot use the database at {where} ({type(getattr(exc, 'orig', None) or exc).__name__})")


def ensure_current(database_url: str) -> None:
    """Before `serve` or `worker` starts: the embedded SQLite database migrates itself; any other database
    must already be at the latest migration. Raises ConfigError (one line, no password) otherwise."""
    head = head_revision()
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            current = (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if inspect(connection).has_table("alembic_version")
                else None
            )
    except SQLAlchemyError as exc:
        raise _unusable(database_url, exc) from None
    finally:
        engine.dispose()
    if current == head:
        return
    if is_sqlite(engine):
        upgrade(database_url)
        return
    raise ConfigError(f"database is at revision {current or 'none'}, keyturn needs {head}: run `keyturn migrate`")


def head_revision() -> str:
    """The newest migration: the revision no other revision names as its down_revision (one head, as Alembic's
    ScriptDirectory would say; tests/test_migrations.py checks that they agree)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        for name, double, single in _REVISION_LINE.findall(path.read_text()):
            value = double or single
            if value:
                (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise ConfigError(f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}); expected one")
    return heads.pop()
