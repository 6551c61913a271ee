"""How long the console's busiest page takes to render on the server with 1,000 rotations (issue 15: < 50 ms).

In-process (no network, no browser): the app on a fresh SQLite database, 1,000 rotations in 4 projects with
a credential row each and every tenth one failed, then the overview (first page, and a filtered page) timed
against GET /api/status, a route that does next to nothing, in the same run.
Run: `make bench-console` (or `python -m bench.console_render [count]`).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import select

from app.config import Settings
from app.db import unit_of_work
from app.main import create_app
from app.migrate import upgrade
from app.models import AppConnection, Environment, RotationCredential, SecretRotation
from app.timeutil import utcnow

ADMIN_TOKEN = "bench-admin-token-" + "b" * 40
ROOT_KEY = "k1:" + "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
RUNS = 30


def _seed(client: TestClient, count: int) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    projects = [
        client.post("/api/v1/projects", json={"projectName": f"p{i}"}, headers=headers).json()["project"]
        for i in range(4)
    ]
    now = utcnow()
    with unit_of_work() as session:
        for project in projects:
            session.add(
                AppConnection(
                    id=project["id"],
                    name=f"c-{project['id'][:8]}",
                    project_id=project["id"],
                    app="open-router",
                    method="api-key",
                    encrypted_credentials="",
                    credentials_hash="",
                    created_at=now,
                    updated_at=now,
                )
            )
        session.flush()
        envs = {e.project_id: e.id for e in session.exec(select(Environment).where(Environment.slug == "dev"))}
        for i in range(count):
            project = projects[i % len(projects)]
            rotation = SecretRotation(
                project_id=project["id"],
                environment_id=envs[project["id"]],
                secret_path=f"/svc{i % 25}",
                name=f"rotation-{i:04d}",
                type="open-router-api-key",
                connection_id=project["id"],
                parameters={"name": "k"},
                secrets_mapping={"apiKey": f"K{i}"},
                rotation_interval=30,
                last_rotation_attempted_at=now,
                last_rotated_at=now,
                next_rotation_at=now,
                rotation_status="failed" if i % 10 == 0 else "success",
            )
            session.add(rotation)
            session.add(
                RotationCredential(
                    rotation_id=rotation.id,
                    connection_id=project["id"],
                    generation=1,
                    provider="openrouter",
                    key_name=f"k-{i}",
                    key_id=f"id-{i}",
                    state="active",
                    slot=0,
                )
            )


def _median_ms(client: TestClient, path: str, **kwargs) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(path, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:200]
    return statistics.median(times)


def main(count: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", root_key=ROOT_KEY, admin_token=ADMIN_TOKEN, worker="off"
        )
        upgrade(settings.database_url)
        with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
            _seed(client, count)
            form = client.get("/console/sign-in")
            csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            client.post("/console/sign-in", data={"csrf": csrf, "admin_token": ADMIN_TOKEN})
            baseline = _median_ms(client, "/api/status")
            overview = _median_ms(client, "/console")
            filtered = _median_ms(client, "/console", params={"status": "failed"})
    print(f"{count} rotations, median of {RUNS} requests each (in-process, SQLite):")
    print(f"  baseline GET /api/status          {baseline:6.1f} ms")
    print(f"  GET /console (first page of 50)   {overview:6.1f} ms")
    print(f"  GET /console?status=failed        {filtered:6.1f} ms")
    print(f"  overview minus baseline           {overview - baseline:6.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
