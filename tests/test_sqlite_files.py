"""The SQLite database, its WAL and its shared-memory file are private to keyturn's user (issue 10 B10)."""

from __future__ import annotations

import os
import stat

from sqlalchemy import text

from app.db import make_engine


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_wal_and_shm_are_0600_in_a_0700_directory(tmp_path):
    database = tmp_path / "data" / "keyturn.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        for path in (database, f"{database}-wal", f"{database}-shm"):
            assert mode(path) == 0o600, f"{path} has mode {oct(mode(path))}"
    engine.dispose()
    assert mode(tmp_path / "data") == 0o700


def test_an_existing_directory_keeps_its_mode(tmp_path):
    os.chmod(tmp_path, 0o755)
    engine = make_engine(f"sqlite:///{tmp_path}/keyturn.db")
    engine.dispose()
    assert mode(tmp_path) == 0o755
    assert mode(tmp_path / "keyturn.db") == 0o600
