"""Start-up as a newcomer meets it: every unusable setting or database stops `serve` and `worker` with one
line on stderr and exit code 2; the embedded SQLite default migrates itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app.db import normalise_url
from app.migrate import head_revision
from tests.factories import free_port

ADMIN_TOKEN = "t" * 40


def run_keyturn(command: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_WORKER": "off",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_exit_2(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    for text_ in expected:
        assert text_ in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_malformed_setting_is_one_line_naming_the_variable(tmp_path, command):
    result = run_keyturn(command, tmp_path, KEYTURN_PORT="abc", KEYTURN_WORKER_CONCURRENCY="0")
    assert_one_line_exit_2(result, "KEYTURN_PORT", "KEYTURN_WORKER_CONCURRENCY")


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_an_unsupported_database_url_names_the_supported_schemes(tmp_path, command):
    result = run_keyturn(command, tmp_path, KEYTURN_DATABASE_URL="mysql://user:pw-do-not-echo@db/keyturn")
    assert_one_line_exit_2(result, "'mysql'", "sqlite:///", "postgresql://")
    assert "pw-do-not-echo" not in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_an_unreachable_database_is_one_line_without_the_password(tmp_path, command):
    result = run_keyturn(command, tmp_path, KEYTURN_DATABASE_URL="postgresql://u:pw-do-not-echo@127.0.0.1:1/x")
    assert_one_line_exit_2(result, "cannot use the database at 127.0.0.1:1/x")
    assert "pw-do-not-echo" not in result.stderr


@pytest.fixture
def empty_postgres_url(postgres_database) -> str:
    """A PostgreSQL database that exists but was never migrated."""
    base = make_url(normalise_url(postgres_database))
    name = f"keyturn_empty_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_unmigrated_postgres_database_stops_start_up(tmp_path, empty_postgres_url, command):
    result = run_keyturn(command, tmp_path, KEYTURN_DATABASE_URL=empty_postgres_url)
    assert_one_line_exit_2(result, "database is at revision none, keyturn needs", "run `keyturn migrate`")


def test_the_embedded_sqlite_database_migrates_itself_at_start(tmp_path):
    port = free_port()
    environment = {
        **os.environ,
        "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/fresh/k.db",
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_PORT": str(port),
    }
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=environment, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/projects", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
                )
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "keyturn did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert response.status_code == 200, f"{response.text}\n{log.decode()}"
    engine = create_engine(f"sqlite:///{tmp_path}/fresh/k.db")
    assert "secret_rotation" in inspect(engine).get_table_names()
    engine.dispose()


def test_the_embedded_database_migrates_in_a_process_of_its_own(tmp_path):
    """Alembic never enters the process that goes on to serve: its memory would stay in every web process forked
    from it, and in the rotation worker."""
    url = f"sqlite:///{tmp_path}/k.db"
    check = "\n".join(
        [
            "import sys",
            "from app.migrate import ensure_current",
            "ensure_current(sys.argv[1])",
            "print('alembic' in sys.modules)",
        ]
    )
    result = subprocess.run([sys.executable, "-c", check, url], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    engine.dispose()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_migration_that_fails_stops_start_up_with_exit_2(tmp_path, command):
    engine = create_engine(f"sqlite:///{tmp_path}/k.db")
    with engine.begin() as connection:  # a revision this keyturn does not know (a newer keyturn's, say)
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('ffffffffffff')"))
    engine.dispose()
    result = run_keyturn(command, tmp_path)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("keyturn: configuration error: migrating the database failed"), result.stderr
