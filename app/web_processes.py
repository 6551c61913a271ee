"""`keyturn serve`'s web processes: forks of serve, which imported everything they run (and built the app) first.

A spawned process (what uvicorn's own supervisor starts) imports FastAPI, SQLAlchemy, pydantic and keyturn again
and holds all of it privately; a forked one shares those pages with its parent and every sibling until it writes
to them. `gc.freeze()` before the first fork keeps the children's garbage collector off the inherited objects
(it would otherwise write to each one it visits, and copy its page).

Forking is safe only from a process that holds no thread, no event loop and no database connection: serve's
parent starts no thread before its forks and none after (it watches the rotation worker from this loop instead),
and app.db closes pooled connections before any fork.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from typing import NoReturn

log = logging.getLogger("keyturn.serve")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# For every child serve restarts (web processes here, the rotation worker in app.serve):
RESTART_BACKOFF_SECONDS = (1.0, 30.0)  # first and longest wait before restarting a child that died
STEADY_SECONDS = 60.0  # a child that ran this long restarts after the first backoff again
TICK_SECONDS = 0.2  # how often the parent looks at its children (and how soon it notices a stop signal)


PR_SET_PDEATHSIG = 1  # <sys/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True)


def _end_with(parent: int) -> None:
    """In a fork: have the kernel send SIGTERM when serve dies, however it dies (SIGKILL, the OOM killer). A web
    process that outlived it would keep the port and serve with nobody to stop or replace it."""
    if _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("web process (pid %s) will not end with serve: prctl failed", os.getpid())
    if os.getppid() != parent:  # serve died before the kernel was told
        os._exit(0)


def _pause(seconds: float) -> None:
    # Not time.sleep: under libfaketime (the clock-skew tests run serve 3 minutes fast) it fails with EINVAL.
    select.select([], [], [], seconds)


def how_it_ended(code: int) -> str:
    """A child's end in a log line, from its exit code (negative: the signal that killed it, as Popen has it)."""
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"


class WebProcesses:
    """`count` forks of this process, each running `serve_one` (which must end with os._exit, never return). A web
    process that dies is replaced after a backoff, with a warning that names it, until SIGTERM or SIGINT reaches
    this process; `stop` then stops them all (SIGTERM to each, then SIGKILL to any still there after
    `stop_seconds`)."""

    def __init__(self, serve_one: Callable[[], NoReturn], count: int, stop_seconds: float) -> None:
        self._serve_one = serve_one
        self._count = count
        self._stop_seconds = stop_seconds
        self._stopping = False
        self._started: dict[int, float] = {}  # pid -> when it started (monotonic)
        self._due: list[float] = []  # when each pending replacement starts (monotonic)
        self._backoff = RESTART_BACKOFF_SECONDS[0]

    def start(self) -> None:
        """Fork the web processes; from now on SIGTERM and SIGINT end `watch`."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._stop)
        gc.freeze()
        for _ in range(self._count):
            self._fork()

    def _stop(self, _signum: int, _frame: object) -> None:
        self._stopping = True

    def _fork(self) -> int:
        # A stop signal that arrives while forking waits (blocked) until each side has its own handler in place.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                for signum in STOP_SIGNALS:
                    signal.signal(signum, signal.SIG_DFL)  # until the server takes them over, a stop simply ends it
                _end_with(parent)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
                self._serve_one()
            self._started[pid] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return pid

    def watch(self, also: Callable[[], None] | None = None) -> None:
        """Replace web processes that die, until a stop signal. `also` runs at every tick (the rotation worker's
        check: this process starts no thread, since it may fork again)."""
        first, longest = RESTART_BACKOFF_SECONDS
        while not self._stopping:
            for pid, code in self._reap():
                started = self._started.pop(pid)
                if self._stopping:  # the stop signal came during this tick: nothing is replaced from now on
                    log.info("web process (pid %s) %s while serve stops", pid, how_it_ended(code))
                    continue
                if time.monotonic() - started >= STEADY_SECONDS:
                    self._backoff = first
                log.warning(
                    "web process (pid %s) %s; starting another in %.0f s", pid, how_it_ended(code), self._backoff
                )
                self._due.append(time.monotonic() + self._backoff)
                self._backoff = min(self._backoff * 2, longest)
            for due in [due for due in self._due if due <= time.monotonic() and not self._stopping]:
                self._due.remove(due)
                log.info("web process started (pid %s)", self._fork())
            if also is not None:
                also()
            _pause(TICK_SECONDS)

    def _reap(self) -> list[tuple[int, int]]:
        """(pid, exit code) of the web processes that ended; only ours: the rotation worker is its Popen's to reap."""
        ended = []
        for pid in list(self._started):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                ended.append((pid, os.waitstatus_to_exitcode(status)))
        return ended

    def stop(self) -> None:
        """Stop every web process (none is replaced from now on); returns once they are all gone."""
        self._stopping = True
        for pid in self._started:
            os.kill(pid, signal.SIGTERM)  # each stops gracefully: uvicorn's shutdown, then the app's lifespan
        deadline = time.monotonic() + self._stop_seconds
        while self._started and time.monotonic() < deadline:
            for pid, _code in self._reap():
                del self._started[pid]
            _pause(0.05)
        for pid in self._started:
            log.warning("web process (pid %s) did not stop in time: killed", pid)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self._started.clear()
