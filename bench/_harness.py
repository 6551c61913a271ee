"""Process management shared by the chaos suite and the throughput bench.

Everything is driven black-box: the emulator (bench._emulator) and keyturn (`keyturn migrate`,
`keyturn serve` with KEYTURN_WORKER=off, `keyturn worker`) run as their own processes; the harness
talks to them over HTTP and reads the database only for what the API cannot tell (pending
revocations, making many rotations due at once).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import normalise_url

REPO = Path(__file__).resolve().parent.parent
KEYTURN = str(Path(sys.executable).with_name("keyturn"))
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
ROTATION_TYPE = "open-router-api-key"
ROTATIONS = f"/api/v2/secret-rotations/{ROTATION_TYPE}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- databases ---------------------------------------------------------------------------------


class FreshPostgres:
    """A new database on the server at `base_url`, dropped by `drop()`."""

    def __init__(self, base_url: str, prefix: str = "keyturn_bench"):
        self.base = make_url(normalise_url(base_url))
        self.name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._admin = create_engine(self.base, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = self.base.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


class FreshSqlite:
    """A new SQLite file database in `directory`, removed by `drop()`."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / f"keyturn_bench_{uuid.uuid4().hex[:6]}.db"
        self.url = f"sqlite:///{self.path}"

    def drop(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def fresh_database(kind: str, postgres_url: str, directory: Path) -> FreshPostgres | FreshSqlite:
    """`kind` is "sqlite" (a file in `directory`) or "postgresql" (a new database on `postgres_url`'s server)."""
    if kind == "sqlite":
        return FreshSqlite(directory)
    return FreshPostgres(postgres_url)


def database_now_sql(url: str) -> str:
    """SQL for the database's current time in the layout keyturn stores (text on SQLite), as app.db.now() renders."""
    if make_url(normalise_url(url)).get_backend_name() == "sqlite":
        return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    return "statement_timestamp()"


def sql_scalar(url: str, query: str, **params) -> object:
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            return conn.execute(text(query), params).scalar()
    finally:
        engine.dispose()


def sql_execute(url: str, query: str, **params) -> int:
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            return conn.execute(text(query), params).rowcount
    finally:
        engine.dispose()


# --- processes ---------------------------------------------------------------------------------


class ManagedProcess:
    """One child process with its output in a log file; can be SIGKILLed and restarted."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name, self.argv, self.env, self.log_dir = name, argv, env, log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.peak_rss_kib = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self) -> ManagedProcess:
        self.starts += 1
        handle = open(self.log_path, "a")  # noqa: SIM115 - the child process owns it until stop()
        handle.write(f"--- start #{self.starts} at {time.strftime('%H:%M:%S')}\n")
        handle.flush()
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def sample_memory(self) -> int:
        """Peak resident set (VmHWM, KiB) of the current incarnation; kept as the max over samples."""
        if self.alive:
            try:
                status = Path(f"/proc/{self.proc.pid}/status").read_text()
                match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
                if match:
                    self.peak_rss_kib = max(self.peak_rss_kib, int(match.group(1)))
            except OSError:
                pass
        return self.peak_rss_kib

    def cpu_seconds(self) -> float:
        """User + system CPU time of the current incarnation."""
        if not self.alive:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release, exactly like a crash."""
        if self.alive:
            self.sample_memory()
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive:
            return
        self.sample_memory()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2, proc: ManagedProcess | None = None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, OSError):
            pass
        if proc is not None and not proc.alive:
            raise RuntimeError(f"{proc.name} exited while waiting for {what}:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Emulator:
    """The OpenRouter emulator process and its /_emulator/ control API."""

    def __init__(self, log_dir: Path, *, latency: float = 0.0, seed: int | None = None):
        self.key_file = log_dir / "management.key"
        argv = [
            sys.executable,
            "-m",
            "bench._emulator",
            "--port",
            "0",
            "--management-key-file",
            str(self.key_file),
            "--latency",
            str(latency),
        ]
        if seed is not None:
            argv += ["--seed", str(seed)]
        self.process = ManagedProcess("emulator", argv, dict(os.environ), log_dir).start()
        line = wait_for(self._listening_line, 20, "the emulator to listen", proc=self.process)
        self.base_url = re.search(r"base_url=(\S+)", line).group(1)
        self.control_url = re.search(r"control=(\S+)", line).group(1)
        self.management_key = self.key_file.read_text().strip()
        self.http = httpx.Client(timeout=30)

    def _listening_line(self) -> str | None:
        for line in self.process.log_path.read_text().splitlines():
            if "listening base_url=" in line:
                return line
        return None

    def control(self, method: str, route: str, body: dict | None = None) -> dict:
        response = self.http.request(method, f"{self.control_url}/{route}", json=body)
        response.raise_for_status()
        return response.json()

    def add_fault(self, method: str, path_regex: str, **rule) -> None:
        self.control("POST", "faults", {"method": method, "path_regex": path_regex, **rule})

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def set_latency(self, seconds: float) -> None:
        self.control("POST", "latency", {"seconds": seconds})

    def state(self) -> dict:
        return self.control("GET", "state")

    def created(self) -> dict:
        """{"created": {name: count}, "create_count": n, "faults_fired": {kind: n}}"""
        return self.control("GET", "created-names")

    def key_works(self, api_key: str) -> bool:
        return self.control("POST", "key-works", {"key": api_key})["works"]

    def stop(self) -> None:
        self.http.close()
        self.process.stop()


@dataclass
class KeyturnConfig:
    database_url: str
    openrouter_base_url: str
    interval_unit: str = "seconds"
    # Seconds-scale rotations revoke the key two generations back at once, as the benches count on.
    revocation_min_overlap_seconds: float = 0.0
    # ... and without holding it for a quiet window of provider usage (issue 12).
    revocation_hold_while_in_use: bool = False
    poll_seconds: float = 0.5
    lease_seconds: float = 5.0
    http_timeout_seconds: float = 3.0
    worker_concurrency: int = 4
    provider_max_concurrency: int = 4
    provider_rate_per_second: float = 50.0
    provider_burst: int = 20
    log_level: str = "WARNING"
    extra: dict[str, str] = field(default_factory=dict)
    root_key: str = field(default_factory=lambda: "k1:" + base64.b64encode(secrets.token_bytes(32)).decode())
    admin_token: str = field(default_factory=lambda: secrets.token_hex(32))

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
        env.update(
            {
                "KEYTURN_DATABASE_URL": self.database_url,
                "KEYTURN_ROOT_KEY": self.root_key,
                "KEYTURN_ADMIN_TOKEN": self.admin_token,
                "KEYTURN_OPENROUTER_BASE_URL": self.openrouter_base_url,
                "KEYTURN_ROTATION_INTERVAL_UNIT": self.interval_unit,
                "KEYTURN_REVOCATION_MIN_OVERLAP_SECONDS": str(self.revocation_min_overlap_seconds),
                "KEYTURN_REVOCATION_HOLD_WHILE_IN_USE": str(self.revocation_hold_while_in_use).lower(),
                "KEYTURN_WORKER_POLL_SECONDS": str(self.poll_seconds),
                "KEYTURN_LEASE_SECONDS": str(self.lease_seconds),
                "KEYTURN_HTTP_TIMEOUT_SECONDS": str(self.http_timeout_seconds),
                "KEYTURN_WORKER_CONCURRENCY": str(self.worker_concurrency),
                "KEYTURN_PROVIDER_MAX_CONCURRENCY": str(self.provider_max_concurrency),
                "KEYTURN_PROVIDER_RATE_PER_SECOND": str(self.provider_rate_per_second),
                "KEYTURN_PROVIDER_BURST": str(self.provider_burst),
                "KEYTURN_LOG_LEVEL": self.log_level,
            }
        )
        env.update(self.extra)
        env.update(overrides)
        return env


def migrate(config: KeyturnConfig) -> None:
    result = subprocess.run(
        [KEYTURN, "migrate"], env=config.env(), cwd=REPO, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"keyturn migrate failed:\n{result.stdout}\n{result.stderr}")


class ApiServer:
    def __init__(self, config: KeyturnConfig, log_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = config.env(KEYTURN_WORKER="off", KEYTURN_PORT=str(self.port), KEYTURN_HOST="127.0.0.1")
        self.process = ManagedProcess("api", [KEYTURN, "serve"], env, log_dir).start()
        wait_for(
            lambda: httpx.get(self.url + "/api/status", timeout=2).status_code == 200,
            60,
            "the API server",
            proc=self.process,
        )

    def stop(self) -> None:
        self.process.stop()


class WorkerPool:
    """`keyturn worker` processes, each killable and restartable."""

    def __init__(self, config: KeyturnConfig, log_dir: Path, count: int):
        self.workers = [ManagedProcess(f"worker-{i}", [KEYTURN, "worker"], config.env(), log_dir) for i in range(count)]
        self.kills = 0

    def start(self) -> None:
        for worker in self.workers:
            if not worker.alive:
                worker.start()

    def kill(self, index: int) -> None:
        self.workers[index].kill()
        self.kills += 1

    def restart(self, index: int) -> None:
        if not self.workers[index].alive:
            self.workers[index].start()

    def sample_memory(self) -> list[int]:
        return [w.sample_memory() for w in self.workers]

    def check_alive(self) -> None:
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is not None and worker.proc.returncode != -9:
                raise RuntimeError(f"{worker.name} exited with {worker.proc.returncode}:\n{worker.tail()}")

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


# --- the admin API -------------------------------------------------------------------------------


class ApiError(RuntimeError):
    def __init__(self, response: httpx.Response):
        super().__init__(
            f"{response.request.method} {response.request.url.path} -> {response.status_code}: {response.text[:300]}"
        )
        self.status = response.status_code


class Keyturn:
    """A small client for the admin and consumer HTTP APIs."""

    def __init__(self, url: str, token: str, timeout: float = 60.0):
        self.url = url
        self.http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise ApiError(response)
        return response.json() if response.content else {}

    def create_project(self, name: str) -> dict:
        return self.call("POST", "/api/v1/projects", json={"projectName": name, "slug": name})["project"]

    def create_connection(self, project_id: str, management_key: str, name: str = "bench-openrouter") -> dict:
        return self.call(
            "POST",
            "/api/v1/app-connections/open-router",
            json={
                "name": name,
                "method": "api-key",
                "projectId": project_id,
                "credentials": {"apiKey": management_key},
            },
        )["appConnection"]

    def create_rotation(
        self,
        *,
        project_id: str,
        connection_id: str,
        index: int,
        interval: int,
        secret_path: str = "/bench",
        environment: str = "dev",
        prefix: str = "bench",
    ) -> dict:
        return self.call(
            "POST",
            ROTATIONS,
            json={
                "name": f"{prefix}-rot-{index}",
                "projectId": project_id,
                "connectionId": connection_id,
                "environment": environment,
                "secretPath": secret_path,
                "isAutoRotationEnabled": True,
                "rotationInterval": interval,
                "parameters": {"name": f"{prefix}-k{index}"},
                "secretsMapping": {"apiKey": f"KEY_{index}"},
            },
        )["secretRotation"]

    def rotation_by_name(self, name: str, project_id: str, secret_path: str, environment: str = "dev") -> dict | None:
        response = self.http.get(
            f"{ROTATIONS}/rotation-name/{name}",
            params={"projectId": project_id, "environment": environment, "secretPath": secret_path},
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise ApiError(response)
        return response.json()["secretRotation"]

    def update_rotation(self, rotation_id: str, **body) -> dict:
        return self.call("PATCH", f"{ROTATIONS}/{rotation_id}", json=body)["secretRotation"]

    def rotation(self, rotation_id: str) -> dict:
        return self.call("GET", f"{ROTATIONS}/{rotation_id}")["secretRotation"]

    def history(self, rotation_id: str) -> list[dict]:
        return self.call("GET", f"{ROTATIONS}/{rotation_id}/history")["history"]

    def generated_credentials(self, rotation_id: str) -> dict:
        return self.call("GET", f"{ROTATIONS}/{rotation_id}/generated-credentials")

    def read_secret(self, *, project_id: str, environment: str, secret_path: str, name: str) -> str:
        return self.call(
            "GET",
            f"/api/v3/secrets/raw/{name}",
            params={"workspaceId": project_id, "environment": environment, "secretPath": secret_path},
        )["secret"]["secretValue"]

    def close(self) -> None:
        self.http.close()


def create_rotations(
    api: Keyturn,
    *,
    project_id: str,
    connection_id: str,
    count: int,
    interval: int,
    secret_path: str,
    prefix: str,
    parallel: int = 8,
    start: int = 0,
) -> list[dict]:
    """Create `count` rotations through the API, `parallel` at a time (each create mints a key)."""

    def one(index: int) -> dict:
        for attempt in range(5):
            try:
                return api.create_rotation(
                    project_id=project_id,
                    connection_id=connection_id,
                    index=index,
                    interval=interval,
                    secret_path=secret_path,
                    prefix=prefix,
                )
            except (httpx.TransportError, ApiError) as exc:
                if attempt > 0 and isinstance(exc, ApiError) and exc.status == 400:
                    # An earlier attempt that timed out or lost its answer may have created it: a create is no
                    # idempotent request, so a retry that finds the name taken takes the rotation it names.
                    found = api.rotation_by_name(f"{prefix}-rot-{index}", project_id, secret_path)
                    if found is not None:
                        return found
                if attempt == 4 or (isinstance(exc, ApiError) and exc.status < 500 and exc.status != 400):
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, range(start, start + count)))


def parallel_map(function, items: Iterable, parallel: int = 8) -> list:
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(function, items))


def rotation_suffix(rotation_id: str) -> str:
    """Key names end with -g<generation>-<first 8 hex of the rotation id> (rotation §14c)."""
    return rotation_id.replace("-", "")[:8]


KEY_NAME = re.compile(r"-g(\d+)-([0-9a-f]{8})$")
