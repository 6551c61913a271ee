"""Apply Alembic migrations programmatically, for `keyturn migrate` and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from app.db import normalise_url

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    from app.db import make_engine

    make_engine(database_url).dispose()  # creates the SQLite directory if needed
    command.upgrade(alembic_config(database_url), revision)
