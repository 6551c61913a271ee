"""The SQLite change feed: its stamp moves with another connection's watched commit, and it never touches the
database's files outside SQLite (closing a descriptor of a file drops every POSIX lock the process holds on it,
SQLite's included)."""

from __future__ import annotations

import fcntl
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.reads import change_feed_schema as schema
from app.reads.change_feed import SqliteFeed

# SQLite's unix VFS: every connection holds a shared lock on this byte of the `-shm` file while it is open (the
# "DMS" slot), and the first connection to find it unlocked truncates and rebuilds the shared-memory index.
DMS_BYTE = 128


@pytest.fixture
def database(sqlite_template, tmp_path) -> Path:
    path = tmp_path / "keyturn.db"
    shutil.copyfile(sqlite_template, path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    return path


def test_the_stamp_moves_with_another_connections_watched_commit_only(database):
    feed = SqliteFeed(str(database))
    first = feed.stamp()
    assert first is not None and feed.stamp() == first
    with sqlite3.connect(database) as other:
        other.execute("CREATE TABLE unwatched (x)")  # a commit that changes nothing the cache holds
    assert feed.stamp() == first
    with sqlite3.connect(database) as other:
        other.execute(f"UPDATE {schema.TABLE} SET n = n + 1 WHERE id = 1")
    assert feed.stamp() == first + 1
    feed.stop()


def test_reading_the_stamp_keeps_sqlites_locks_in_the_process(database):
    holder = textwrap.dedent(
        f"""
        import sqlite3, sys
        from app.reads.change_feed import SqliteFeed
        conn = sqlite3.connect({str(database)!r})
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a read: the connection maps the index
        feed = SqliteFeed({str(database)!r})
        feed.stamp(), feed.stamp()
        print("ready", flush=True)
        sys.stdin.readline()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        # The holder's connections are open, so their shared lock on the DMS byte must still be there.
        with open(f"{database}-shm", "rb+") as shm, pytest.raises(BlockingIOError):
            fcntl.lockf(shm, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, DMS_BYTE)
    finally:
        process.communicate("done\n", timeout=10)
