"""A flood of bad logins against secret reads (issue 10 B2): what the flood costs the reads and the memory.

    .venv/bin/python bench/login_flood.py [--logins 100] [--readers 4] [--baseline-seconds 3]

`keyturn serve` runs as in production (argon2id's default cost, 64 MiB a check) against PostgreSQL when
KEYTURN_TEST_POSTGRES_URL is set (a scratch database, dropped at the end), else SQLite in a temporary directory.
The bench seeds a project with one secret and two reader tokens: a plain one, whose reads are served from the read
cache, and a use-limited one, whose every read authenticates on the server's shared thread pool (a cache miss).

Each scenario starts its own server, then times the readers alone (the baseline), then times them again while
`--logins` logins with made-up client ids are sent at once from one address. It prints the read p50/p99 of both
phases and their ratio, how the logins were answered, and the server's resident memory before the flood and at its
peak. Scenarios: the default rate limits (most of the flood is answered 429), and the per-address limit raised so
every login reaches a hash check (what the hash pool alone bounds).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `bench` and `app` import from the checkout
    sys.path.insert(0, str(ROOT))

from bench._harness import FreshPostgres, free_port  # noqa: E402

SECRET_NAME = "OPENROUTER_API_KEY"
LOGIN = "/api/v1/auth/universal-auth/login"
MIB = 1024 * 1024


# --- seeding (in a child process: configure() installs process-wide settings) -----------------------------------


def _seed(url: str) -> dict:
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
    configure(Settings(database_url=url, worker="off", log_level="WARNING"))
    cached, counted = new_token(), new_token()
    with unit_of_work() as session:
        project, envs = projects.create_project(session, body=ProjectCreate(projectName="flood", slug="flood-app"))
        prod = next(env for env in envs if env.slug == "prod")
        secrets_store.create_secret(
            session, project_id=project.id, environment_id=prod.id, path="/", key=SECRET_NAME, value="sk-or-v1-flood"
        )
        identity = Identity(name="reader")
        session.add(identity)
        session.flush()
        ua = UniversalAuth(identity_id=identity.id, access_token_trusted_ips=ANYWHERE)
        session.add(ua)
        session.flush()
        for token, uses in ((cached, 0), (counted, 10**9)):
            session.add(
                AccessToken(
                    token_hash=hash_token(token),
                    identity_id=identity.id,
                    ua_id=ua.id,
                    ttl=86400,
                    max_ttl=86400,
                    num_uses_limit=uses,
                )
            )
        session.add(
            IdentityMembership(
                project_id=project.id, identity_id=identity.id, roles=[{"id": new_id(), "role": "viewer"}]
            )
        )
        project_id = project.id
    engine().dispose()
    return {"project_id": project_id, "cached_token": cached, "counted_token": counted}


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    project_id: str
    tokens: dict[str, str]  # "cached" / "counted" -> token

    def rss(self) -> tuple[int, int]:
        """(resident now, peak resident) in bytes, from /proc."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024

    def read_path(self) -> str:
        query = f"workspaceId={self.project_id}&environment=prod&secretPath=%2F&viewSecretValue=true"
        return f"/api/v3/secrets/raw/{SECRET_NAME}?{query}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(database_url: str, **settings: str) -> Server:
    """Seed `database_url` (fresh), then run `keyturn serve` on it with KEYTURN_<NAME> = value for each setting."""
    root_key = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = {
        **os.environ,
        "KEYTURN_DATABASE_URL": database_url,
        "KEYTURN_ROOT_KEY": root_key,
        "KEYTURN_ADMIN_TOKEN": secrets.token_hex(32),
        "KEYTURN_WORKER": "off",
        "KEYTURN_WEB_WORKERS": "1",  # one process: its memory and its per-process login limits are what is measured
        "KEYTURN_LOG_LEVEL": "WARNING",
    }
    seeded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import json, sys; from bench.login_flood import _seed; print(json.dumps(_seed({database_url!r})))",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = free_port()
    env.update({"KEYTURN_PORT": str(port), **{f"KEYTURN_{k.upper()}": v for k, v in settings.items()}})
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/api/status")
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("keyturn serve did not start") from None
            time.sleep(0.2)
    tokens = {"cached": seed["cached_token"], "counted": seed["counted_token"]}
    return Server(process, base, seed["project_id"], tokens)


# --- load -----------------------------------------------------------------------------------------------------


@dataclass
class Reads:
    """Reads of one kind: each one's status, latency (s) and finish time (monotonic)."""

    statuses: list[int]
    latencies: list[float]
    finished: list[float]

    def p(self, quantile: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] if ordered else float("nan")


def read_until(server: Server, kind: str, stop: threading.Event, readers: int) -> Reads:
    """`readers` threads read the secret one after another with the `kind` token until `stop` is set."""
    reads = Reads([], [], [])
    lock = threading.Lock()

    def reader() -> None:
        headers = {"Authorization": f"Bearer {server.tokens[kind]}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=60) as http:
            while not stop.is_set():
                began = time.perf_counter()
                response = http.get(server.read_path())
                took = time.perf_counter() - began
                with lock:
                    reads.statuses.append(response.status_code)
                    reads.latencies.append(took)
                    reads.finished.append(time.monotonic())

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reads


def flood(base: str, logins: int) -> list[tuple[int, str | None]]:
    """`logins` logins with made-up client ids, all released at once: (status, Retry-After) of each."""
    start = threading.Barrier(logins)
    limits = httpx.Limits(max_connections=logins, max_keepalive_connections=logins)
    with httpx.Client(base_url=base, timeout=300, limits=limits) as http:

        def one(_n: int) -> tuple[int, str | None]:
            start.wait()
            response = http.post(LOGIN, json={"clientId": str(uuid.uuid4()), "clientSecret": secrets.token_hex(32)})
            return response.status_code, response.headers.get("retry-after")

        with ThreadPoolExecutor(logins) as pool:
            return list(pool.map(one, range(logins)))


def _flood_child(base: str, logins: int) -> None:
    """In a child process, so the flood's threads do not share the readers' interpreter lock: ready once
    imported, fire on a line from stdin, print the answers as JSON."""
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(flood(base, logins)), flush=True)


def flood_from_child(base: str, logins: int) -> tuple[Callable[[], None], Callable[[], list]]:
    """Start the flooding process; returns (fire, answers)."""
    child = subprocess.Popen(
        [sys.executable, "-c", f"from bench.login_flood import _flood_child; _flood_child({base!r}, {logins})"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline().strip() == "ready"

    def fire() -> None:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()

    def answers() -> list:
        out, _ = child.communicate(timeout=600)
        return [tuple(a) for a in json.loads(out)]

    return fire, answers


@dataclass
class Phase:
    reads: dict[str, Reads]
    began: float
    ended: float
    flood_began: float | None = None  # when the logins were released
    flood_ended: float | None = None  # when the last one was answered


def timed_phase(server: Server, readers: int, *, seconds: float | None = None, logins: int = 0) -> tuple[Phase, list]:
    """Readers of both kinds run for `seconds`, or while `logins` logins are answered (and a second more)."""
    stop = threading.Event()
    results: dict[str, Reads] = {}
    threads = [
        threading.Thread(target=lambda k=kind: results.__setitem__(k, read_until(server, k, stop, readers)))
        for kind in ("cached", "counted")
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    answers: list = []
    flood_began = flood_ended = None
    if logins:
        fire, collect = flood_from_child(server.base, logins)
        time.sleep(0.2)  # the readers are reading when the flood arrives
        fire()
        flood_began = time.monotonic()
        answers = collect()
        flood_ended = time.monotonic()
        time.sleep(1.0)
    else:
        time.sleep(seconds or 0)
    ended = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join()
    return Phase(results, began, ended, flood_began, flood_ended), answers


# --- the report -------------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def scenario(database_url: str, title: str, args, **settings: str) -> None:
    print(f"\n== {title}")
    server = start_server(database_url, **settings)
    try:
        timed_phase(server, args.readers, seconds=1.0)  # warm-up
        baseline, _ = timed_phase(server, args.readers, seconds=args.baseline_seconds)
        rss_before, _ = server.rss()
        loaded, answers = timed_phase(server, args.readers, logins=args.logins)
        _, peak = server.rss()
    finally:
        server.stop()
    codes = Counter(status for status, _ in answers)
    retry_after = sorted({after for status, after in answers if status == 429})
    print(f"   logins: {dict(sorted(codes.items()))}" + (f", Retry-After {retry_after}" if retry_after else ""))
    for kind, label in (("cached", "reads, cached token"), ("counted", "reads, use-limited token (thread pool)")):
        base, load = baseline.reads[kind], loaded.reads[kind]
        bad = sum(1 for s in load.statuses if s != 200)
        print(
            f"   {label}: {len(load.latencies)} during the flood ({bad} not 200)\n"
            f"      p50 {_ms(base.p(0.5))} -> {_ms(load.p(0.5))}   p99 {_ms(base.p(0.99))} -> {_ms(load.p(0.99))}"
            f"   p99 ratio x{load.p(0.99) / base.p(0.99):.1f}   max {_ms(max(load.latencies))}"
        )
    print(
        f"   server RSS: {rss_before / MIB:.0f} MiB before the flood, peak {peak / MIB:.0f} MiB"
        f" (x{peak / rss_before:.2f}, +{(peak - rss_before) / MIB:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument("--readers", type=int, default=4, help="reader threads per token kind")
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    parser.add_argument("--hash-workers", help="KEYTURN_LOGIN_HASH_WORKERS for the server (default: its own)")
    args = parser.parse_args()
    postgres_url = os.environ.get("KEYTURN_TEST_POSTGRES_URL")
    print(
        f"{args.logins} parallel logins with made-up client ids from one address, against {2 * args.readers} readers;"
        f" {'PostgreSQL' if postgres_url else 'SQLite'}; {os.cpu_count()} CPUs; argon2id default cost"
    )
    pool = {"login_hash_workers": args.hash_workers} if args.hash_workers else {}
    for title, settings in (
        ("default limits", pool),
        (
            f"per-address limit raised: all {args.logins} logins reach a hash check",
            {"rate_limit_login_ip_burst": "100000", **pool},
        ),
    ):
        if postgres_url:
            database = FreshPostgres(postgres_url, prefix="keyturn_flood")
            try:
                scenario(database.url, title, args, **settings)
            finally:
                database.drop()
        else:
            directory = tempfile.mkdtemp(prefix="keyturn-flood-")
            try:
                scenario(f"sqlite:///{directory}/keyturn.db", title, args, **settings)
            finally:
                shutil.rmtree(directory, ignore_errors=True)
    print("\n(p99 ratio: during the flood / the same readers alone, same server, same run)")


if __name__ == "__main__":
    main()
