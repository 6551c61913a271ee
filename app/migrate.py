"""Alembic migrations, programmatically: `keyturn migrate`, the start-up check, and the tests."""

from __future__ import annotations

import re
import subprocess
import sys
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
# so a worker or server that only checks never loads it (about 10 MiB of every worker's memory), and one that
# migrates the embedded database does it in a child process.
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
        _upgrade_apart(database_url)
        return
    raise ConfigError(f"database is at revision {current or 'none'}, keyturn needs {head}: run `keyturn migrate`")


# What the child of `_upgrade_apart` runs: a ConfigError's one line goes to stderr, with exit status 1.
_UPGRADE = """import sys
from app.config import ConfigError
from app.migrate import upgrade
try:
    upgrade(sys.argv[1])
except ConfigError as exc:
    sys.exit(str(exc))
"""


def _upgrade_apart(database_url: str) -> None:
    """`upgrade`, in a process of its own: Alembic and the migration scripts (about 8 MiB once run) then never enter
    this process, nor the web processes and the rotation worker that `serve` forks from it. Its messages go to
    this process's stderr."""
    done = subprocess.run([sys.executable, "-c", _UPGRADE, database_url], check=False)
    if done.returncode != 0:
        raise ConfigError(f"migrating the database failed (exit status {done.returncode}; its message is above)")


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
