"""Alembic migrations, programmatically: `keyturn migrate`, the start-up check, and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from alembic import command
from app.config import ConfigError
from app.db import is_sqlite, make_engine, normalise_url

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
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
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
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
