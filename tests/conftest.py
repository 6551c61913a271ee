"""Shared fixtures: a migrated database (SQLite, and PostgreSQL when configured), the app, clients,
the provider emulators, one provider case per provider, and a controllable clock. Builders the tests
share live in tests/factories.py.

PostgreSQL tests use KEYTURN_TEST_POSTGRES_URL. Without it they skip with a visible reason, unless
KEYTURN_TEST_POSTGRES_REQUIRED=1 (set by .ci/run), in which case they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import clock as clock_module
from app.config import Settings
from app.db import normalise_url
from app.migrate import upgrade
from emulators.arouter import ARouterEmulator
from emulators.openrouter import OpenRouterEmulator
from tests.factories import ADMIN_TOKEN, PROVIDERS, ROOT_KEY, SPECS, ProviderCase

POSTGRES_URL_ENV = "KEYTURN_TEST_POSTGRES_URL"
POSTGRES_REQUIRED = os.environ.get("KEYTURN_TEST_POSTGRES_REQUIRED") == "1"


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        if POSTGRES_REQUIRED:
            pytest.fail(f"{POSTGRES_URL_ENV} is not set but PostgreSQL tests are required")
        pytest.skip(
            f"PostgreSQL tests skipped: set {POSTGRES_URL_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    base_url = make_url(normalise_url(base))
    name = f"keyturn_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if POSTGRES_REQUIRED:
            pytest.fail(f"PostgreSQL at {base_url.host}:{base_url.port} is required but unusable: {type(exc).__name__}")
        pytest.skip(f"PostgreSQL unreachable at {base_url.host}:{base_url.port}: {type(exc).__name__}")
    url = base_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def truncate_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                    " AND tablename NOT IN ('alembic_version', 'keyturn_change')"
                )
            )
            .scalars()
            .all()
        )
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """Every test that touches the database runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "keyturn.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    truncate_all(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request, tmp_path) -> Iterator[str]:
    """A database with no schema at all, so it can be migrated step by step (the shared ones are at head)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'steps.db'}"
        return
    session_url = make_url(normalise_url(request.getfixturevalue("postgres_database")))  # skips or fails as set
    name = f"{session_url.database}_steps_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(session_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield session_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- provider emulators ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def openrouter_server() -> Iterator[OpenRouterEmulator]:
    emulator = OpenRouterEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def openrouter(openrouter_server) -> OpenRouterEmulator:
    """The OpenRouter emulator, emptied of keys and faults for each test."""
    openrouter_server.reset()
    return openrouter_server


@pytest.fixture(scope="session")
def arouter_server() -> Iterator[ARouterEmulator]:
    emulator = ARouterEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def arouter(arouter_server) -> ARouterEmulator:
    """The ARouter emulator (seed contract), emptied of keys and faults for each test."""
    arouter_server.reset()
    return arouter_server


# --- the app ---------------------------------------------------------------------------------


@pytest.fixture
def settings(request, db_url, openrouter, arouter, tmp_path) -> Settings:
    """The suite's settings; a test parametrized indirectly with a dict of settings gets those on top
    (`@pytest.mark.parametrize("settings", [{...}], indirect=True)`)."""
    overrides = getattr(request, "param", {})
    return Settings(
        database_url=db_url,
        root_key=ROOT_KEY,
        admin_token=ADMIN_TOKEN,
        worker="off",
        openrouter_base_url=openrouter.base_url,
        arouter_base_url=arouter.base_url,
        http_timeout_seconds=2.0,
        rotation_interval_unit="days",
        client_secret_hash_cost="low",
        # Tests log in many times from one address ("testclient"); tests of the limits set their own.
        rate_limit_login_client_id_burst=100_000,
        rate_limit_login_ip_burst=100_000,
        # Rotations here follow each other within seconds; tests/rotation/test_min_overlap.py sets the overlap.
        revocation_min_overlap_seconds=0,
        # Nor are superseded keys held while in use (a usage-reporting provider holds each for a quiet window);
        # tests/rotation/test_holds.py turns holds on per rotation.
        revocation_hold_while_in_use=False,
    ).model_copy(update=overrides)


@pytest.fixture
def app(settings):
    from app.main import create_app

    application = create_app(settings)
    yield application
    from app import db

    db.engine().dispose()


@pytest.fixture
def anon_client(app) -> Iterator[TestClient]:
    # A real loopback address: keyturn records and checks only addresses that parse as IPs.
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.fixture
def client(anon_client) -> TestClient:
    """Authenticated as the admin token."""
    anon_client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return anon_client


@pytest.fixture
def project(client) -> dict:
    response = client.post("/api/v1/projects", json={"projectName": "billing", "slug": "billing-app"})
    assert response.status_code == 200, response.text
    return response.json()["project"]


@pytest.fixture
def connection(client, openrouter, project) -> dict:
    """An OpenRouter connection holding a valid management key at the emulator."""
    management_key = openrouter.create_management_key()
    response = client.post(
        "/api/v1/app-connections/open-router",
        json={
            "name": "my-open-router-connection",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": management_key},
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["appConnection"]


@pytest.fixture(params=PROVIDERS)
def provider_case(request, client, project, openrouter, arouter) -> ProviderCase:
    """Each engine test runs once per provider: the emulator (reset), a project, and a connection for
    that app created through the API with a management key from that emulator."""
    spec = SPECS[request.param]
    emulator = {"open-router": openrouter, "arouter": arouter}[request.param]
    management_key = emulator.create_management_key()
    response = client.post(
        f"/api/v1/app-connections/{spec.app}",
        json={
            "name": f"my-{spec.app}-connection",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": management_key},
        },
    )
    assert response.status_code == 200, response.text
    return ProviderCase(
        spec=spec,
        emulator=emulator,
        project=project,
        connection=response.json()["appConnection"],
        management_key=management_key,
    )


# --- a controllable clock ----------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: datetime):
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """Freeze `app.clock.now` (expiry, renewal, lockout) at a fixed instant; `advance()` moves it."""
    fake = FakeClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(clock_module, "now", fake)
    return fake
