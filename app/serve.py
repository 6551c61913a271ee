"""`keyturn serve`: N web processes behind uvicorn, and beside them one supervised rotation worker."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger("keyturn.serve")

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
# An import string and a factory: each web process builds its app from the environment's settings.
APP_FACTORY = "app.main:create_app"
WORKER_COMMAND = [sys.executable, "-m", "app.cli", "worker"]
RESTART_BACKOFF_SECONDS = (1.0, 30.0)  # first and longest wait before restarting a dead worker
STEADY_SECONDS = 60.0  # a worker that ran this long restarts after the first backoff again
STOP_TIMEOUT_SECONDS = 30.0


def available_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota; never the host's count."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            count = min(count, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 file (or an unreadable one): affinity alone
    return max(1, count)


class WorkerSupervisor:
    """Runs `keyturn worker` as a child process, restarts it when it dies (after a backoff, with a log line),
    and stops it when asked."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self._command = command
        self._env = env
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._thread = threading.Thread(target=self._watch, name="keyturn-worker-supervisor", daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        # Its own process group: a terminal's Ctrl-C reaches serve alone, which stops the worker itself, so a
        # worker stopping on that signal is never mistaken for one that died.
        self._process = subprocess.Popen(self._command, env=self._env, process_group=0)
        self._started_at = time.monotonic()
        return self._process

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _watch(self) -> None:
        first, longest = RESTART_BACKOFF_SECONDS
        backoff = first
        while True:
            process = self._process
            assert process is not None
            code = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - self._started_at >= STEADY_SECONDS:
                backoff = first
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            log.warning("rotation worker (pid %s) %s; restarting it in %.0f s", process.pid, how, backoff)
            if self._stopping.wait(backoff):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                log.info("rotation worker restarted (pid %s)", self._spawn().pid)
            backoff = min(backoff * 2, longest)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("rotation worker (pid %s) did not stop in time: killed", process.pid)
                process.kill()
                process.wait()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def _leave(_signum, _frame) -> None:
    raise SystemExit(0)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT, so other sockets of this user may bind it too."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class SocketPerProcess:
    """What uvicorn hands each web process in place of one shared listening socket: unpickled in the process
    uvicorn spawns, it becomes that process's own socket, bound with SO_REUSEPORT to the same address, and
    the kernel spreads new connections evenly over the processes. With one shared socket, whichever process
    woke first took most of a burst of connections (wrk's 32 split 29/3), and the busier process set the tail
    latency of every request it held."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return listening_socket, (self.host, self.port)


SHUTDOWN_GRACE_SECONDS = 5


def run_web(
    app: str,
    *,
    factory: bool,
    workers: int,
    host: str,
    port: int,
    log_level: str,
    forwarded_allow_ips: str | None,
    json_logs: bool = False,
) -> None:
    """uvicorn as keyturn's web processes run in it: `workers` processes, uvloop and httptools, no access log.
    The read benchmark serves its bare FastAPI baseline through this too, so both sides run the same server.
    `json_logs`: uvicorn leaves logging alone, so its lines reach keyturn's JSON handler."""
    import uvicorn

    options: dict[str, Any] = {
        "factory": factory,
        "workers": workers,
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",  # no WebSocket routes: not loading a WebSocket library saves memory in every web process
        "log_level": log_level.lower(),
        "access_log": False,
        # Event streams never end by themselves, and uvicorn's graceful shutdown waits for every open response: after
        # this long it cancels what is left (their clients reconnect elsewhere), so SIGTERM still stops the server.
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; keyturn trusts only the named proxies.
        "proxy_headers": forwarded_allow_ips is not None,
        "forwarded_allow_ips": forwarded_allow_ips or "",
    }
    if json_logs:
        options["log_config"] = None
    if workers == 1:
        uvicorn.run(app, **options)
        return
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    try:
        # Held, never listened on: the port is ours while web processes come and go, and a clash shows here.
        reserved = listening_socket(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc.strerror)
        sys.exit(STARTUP_FAILURE)
    with reserved:
        port = reserved.getsockname()[1]  # port 0: every process binds the one the reservation got
        log.info("serving on http://%s:%d from %d web processes", host, port, workers)
        config = uvicorn.Config(app, **{**options, "port": port})
        Multiprocess(config, sockets=[cast(socket.socket, SocketPerProcess(host, port))]).run()


def serve(settings: Settings, workers: int | None = None) -> None:
    """Serve the API from `workers` processes (else KEYTURN_WEB_WORKERS, else every available CPU); with the
    embedded worker, run it once, as a supervised child, rather than once per web process. Every one of them
    counts its metrics in one directory, which serve creates and removes (app.metrics)."""
    from app.config import METRICS_DIR_VARIABLE

    # First: each process decides at its first import of prometheus-client whether it counts in this directory.
    metrics_dir = tempfile.mkdtemp(prefix="keyturn-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = metrics_dir
    try:
        _serve(settings, workers)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(settings: Settings, workers: int | None) -> None:
    # Here, not at the top: every web process imports this module (to bind its socket), and needs none of it.
    from app.bootstrap import configure

    supervisor = None
    if settings.worker == "embedded":
        # Its counters reach the web processes' /metrics through the shared directory: no port of its own.
        env = {name: value for name, value in os.environ.items() if name != "KEYTURN_WORKER_METRICS_PORT"}
        supervisor = WorkerSupervisor(WORKER_COMMAND, env)
        # The web processes (spawned ones read the environment, an in-process one the installed settings).
        os.environ["KEYTURN_WORKER"] = "off"
        settings = settings.model_copy(update={"worker": "off"})
    # Once, before the web processes start: a missing root key or admin token is generated by one process only.
    configure(settings)
    # SIGTERM or SIGINT before uvicorn takes them over, or handed back by uvicorn after a graceful shutdown
    # (it re-raises them when it served in this process): leave through `finally`, which stops the worker.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _leave)
    if supervisor is not None:
        supervisor.start()
    try:
        run_web(
            APP_FACTORY,
            factory=True,
            workers=workers or settings.web_workers or available_cpus(),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            json_logs=settings.log_format == "json",
        )
    finally:
        if supervisor is not None:
            supervisor.stop()
