"""`keyturn serve`: N web processes running uvicorn (forks of serve: app.web_processes), and beside them one
supervised rotation worker."""

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
from typing import TYPE_CHECKING, Any, NoReturn

from app.web_processes import RESTART_BACKOFF_SECONDS, STEADY_SECONDS, WebProcesses, how_it_ended

if TYPE_CHECKING:
    import uvicorn

    from app.config import Settings

log = logging.getLogger("keyturn.serve")

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
# An import string and a factory: serve builds the app once, from the installed settings, before forking.
APP_FACTORY = "app.main:create_app"
WORKER_COMMAND = [sys.executable, "-m", "app.cli", "worker"]
STOP_TIMEOUT_SECONDS = 30.0
WATCH_SECONDS = 0.2  # how often the supervisor's thread looks at the worker


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
    and stops it when asked. Watched by a thread of its own, or, in a process that must not hold a thread because
    it forks, by its caller calling `check()` often."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self._command = command
        self._env = env
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._backoff = RESTART_BACKOFF_SECONDS[0]
        self._restart_at: float | None = None  # when a dead worker is started again
        self._thread = threading.Thread(target=self._watch, name="keyturn-worker-supervisor", daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        # Its own process group: a terminal's Ctrl-C reaches serve alone, which stops the worker itself, so a
        # worker stopping on that signal is never mistaken for one that died.
        self._process = subprocess.Popen(self._command, env=self._env, process_group=0)
        self._started_at = time.monotonic()
        return self._process

    def start(self, *, watch_thread: bool = True) -> None:
        self._spawn()
        if watch_thread:
            self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            self.check()

    def check(self) -> None:
        """Notice a worker that died (a warning, and its restart planned after the backoff), or restart it once
        that time has come. Never blocks."""
        first, longest = RESTART_BACKOFF_SECONDS
        with self._lock:
            process = self._process
            if self._stopping.is_set() or process is None:
                return
            if self._restart_at is None:
                code = process.poll()
                if code is None:
                    return
                if time.monotonic() - self._started_at >= STEADY_SECONDS:
                    self._backoff = first
                how = how_it_ended(code)
                log.warning("rotation worker (pid %s) %s; restarting it in %.0f s", process.pid, how, self._backoff)
                self._restart_at = time.monotonic() + self._backoff
            elif time.monotonic() >= self._restart_at:
                self._restart_at = None
                log.info("rotation worker restarted (pid %s)", self._spawn().pid)
                self._backoff = min(self._backoff * 2, longest)

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


def _bound(host: str, port: int, *options: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        for option in options:
            sock.setsockopt(socket.SOL_SOCKET, option, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def listening_socket(host: str, port: int) -> socket.socket:
    """A web process's socket: bound to host:port with SO_REUSEPORT beside its siblings' and serve's reservation."""
    return _bound(host, port, socket.SO_REUSEADDR, socket.SO_REUSEPORT)


def reserve_port(host: str, port: int) -> socket.socket:
    """serve's hold on host:port while its web processes come and go: bound, never listened on; OSError if the
    port is taken. SO_REUSEPORT lets any socket of this user join a port, another `keyturn serve`'s included, and
    the kernel would then split connections between the two servers (and their databases). So the port is first
    bound without it, which fails while anything listens there (SO_REUSEADDR: a previous run's TIME_WAIT
    connections do not count). A serve started in the second before another's web processes listen can still
    join it."""
    if port != 0:
        _bound(host, port, socket.SO_REUSEADDR).close()
    return listening_socket(host, port)


SHUTDOWN_GRACE_SECONDS = 5
# A web process stops within the grace period plus its lifespan's shutdown; after this long it is killed.
WEB_STOP_SECONDS = SHUTDOWN_GRACE_SECONDS + 10


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
    worker: WorkerSupervisor | None = None,
) -> None:
    """uvicorn as keyturn's web processes run in it: `workers` processes, uvloop and httptools, no access log.
    The read benchmark serves its bare FastAPI baseline through this too, so both sides run the same server.
    `json_logs`: uvicorn leaves logging alone, so its lines reach keyturn's JSON handler. `worker`: the rotation
    worker, started beside the web processes, and left for the caller to stop."""
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
        if worker is not None:
            worker.start()
        uvicorn.run(app, **options)
        return
    from uvicorn.config import STARTUP_FAILURE

    try:
        reserved = reserve_port(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc.strerror)
        sys.exit(STARTUP_FAILURE)
    with reserved:
        port = reserved.getsockname()[1]  # port 0: every process binds the one the reservation got
        if worker is not None:
            # First, as before the web processes forked: it is a Python process of its own to start, and needs the
            # head start. Watched with no thread (from `watch`), since this process forks, replacements included.
            worker.start(watch_thread=False)
        config = uvicorn.Config(app, **{**options, "port": port})
        # Here, once: the app is imported and built (and the event loop's library imported), and every web process
        # shares those pages. No loop runs yet; each process starts its own.
        config.load()
        config.get_loop_factory()
        log.info("serving on http://%s:%d from %d web processes", host, port, workers)

        def serve_one() -> NoReturn:
            reserved.close()
            _web_process(config, host, port)

        processes = WebProcesses(serve_one, workers, WEB_STOP_SECONDS)
        try:
            processes.start()
            processes.watch(also=worker.check if worker is not None else None)
        finally:
            processes.stop()


def _web_process(config: uvicorn.Config, host: str, port: int) -> NoReturn:
    """A forked web process: uvicorn on a socket of its own, bound with SO_REUSEPORT to the reserved address, so
    the kernel spreads new connections evenly over the processes. With one shared socket, whichever process woke
    first took most of a burst of connections (wrk's 32 split 29/3), and the busier process set the tail latency
    of every request it held. It leaves by os._exit: never back into serve's stack (whose `finally` blocks stop the
    rotation worker and remove the metrics directory), nor through serve's atexit handlers."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    code = 1
    try:
        server = uvicorn.Server(config)
        with listening_socket(host, port) as own:
            server.run(sockets=[own])
        code = 0 if server.started else STARTUP_FAILURE
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        log.exception("web process (pid %s) failed", os.getpid())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


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
    # Here, not at the top: the read benchmark serves its bare baseline through this module, without keyturn's app.
    from app.bootstrap import configure

    supervisor = None
    if settings.worker == "embedded":
        # Its counters reach the web processes' /metrics through the shared directory: no port of its own.
        env = {name: value for name, value in os.environ.items() if name != "KEYTURN_WORKER_METRICS_PORT"}
        supervisor = WorkerSupervisor(WORKER_COMMAND, env)
        # The web processes: the app is built from the installed settings, and anything reading the environment
        # agrees.
        os.environ["KEYTURN_WORKER"] = "off"
        settings = settings.model_copy(update={"worker": "off"})
    # Once, before the web processes start: a missing root key or admin token is generated by one process only.
    configure(settings)
    # SIGTERM or SIGINT before uvicorn (one web process) or the web processes' supervisor takes them over, or
    # handed back by uvicorn after a graceful shutdown (it re-raises them when it served in this process): leave
    # through `finally`, which stops the worker.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _leave)
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
            worker=supervisor,
        )
    finally:
        if supervisor is not None:
            supervisor.stop()
