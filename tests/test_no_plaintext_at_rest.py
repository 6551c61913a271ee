"""A management key is stored only encrypted: not in the database file, not in a response, not in a log."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import engine


def _database_text(db_url: str) -> bytes:
    """Everything the database holds: the SQLite file and its WAL, or every app_connection column as text."""
    if db_url.startswith("sqlite"):
        path = Path(make_url(db_url).database)
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    with engine().connect() as conn:
        rows = conn.execute(text("SELECT CAST(t.* AS text) FROM app_connection AS t")).scalars().all()
    assert rows, "expected at least one connection row"
    dumped = "\n".join(rows).encode()
    if shutil.which("pg_dump"):  # the whole database, every table, as an operator's backup would hold it
        url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        dumped += subprocess.run(["pg_dump", "--data-only", url], check=True, capture_output=True, timeout=60).stdout
    return dumped


def test_management_key_is_never_in_plaintext(client, openrouter, project, db_url, caplog):
    caplog.set_level(logging.DEBUG)
    first_key = openrouter.create_management_key()
    second_key = openrouter.create_management_key()
    responses = []
    created = client.post(
        "/api/v1/app-connections/open-router",
        json={"name": "at-rest", "method": "api-key", "projectId": project["id"], "credentials": {"apiKey": first_key}},
    )
    assert created.status_code == 200
    connection_id = created.json()["appConnection"]["id"]
    responses.append(created)
    responses.append(
        client.patch(
            f"/api/v1/app-connections/open-router/{connection_id}", json={"credentials": {"apiKey": second_key}}
        )
    )
    responses.append(client.get(f"/api/v1/app-connections/open-router/{connection_id}"))
    responses.append(client.get("/api/v1/app-connections/open-router", params={"projectId": project["id"]}))
    responses.append(client.get("/api/v1/app-connections"))
    responses.append(
        client.post(
            "/api/v1/app-connections/open-router",
            json={"name": "Bad Name", "method": "api-key", "credentials": {"apiKey": first_key}},
        )
    )
    responses.append(
        client.post(
            "/api/v1/app-connections/open-router",
            json={"name": "at-rest", "method": "api-key", "credentials": {"apiKey": first_key}},
        )
    )

    stored = _database_text(db_url)
    for key in (first_key, second_key):
        secret_part = key.removeprefix("sk-or-v1-")
        assert key.encode() not in stored and secret_part.encode() not in stored
        for response in responses:
            assert secret_part not in response.text
        assert secret_part not in caplog.text
    assert b"at-rest" in stored  # the check looks at real data
