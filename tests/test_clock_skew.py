"""Real processes whose clocks are minutes off (libfaketime), beside one whose clock is right (issue 10, A5).

Two `keyturn worker` processes share one PostgreSQL database: A at the real time, B three minutes fast.
B must never take a lease A holds or renewed, see a rotation as due before the database does, or cut into
a manual rotation; and it says at start that its clock is off, as `keyturn serve` does in /api/status.

PostgreSQL only: it has a clock of its own. SQLite's clock is whichever process reads it (libfaketime fakes
it too), which is right for SQLite, a single-host database whose processes share the host's clock.

libfaketime (Debian's `faketime`) is needed; without it these tests skip, unless
KEYTURN_TEST_FAKETIME_REQUIRED=1 (set by .ci/run, which installs it), in which case they fail.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.rotation import engine
from app.timeutil import utcnow
from tests.conftest import truncate_all
from tests.factories import ADMIN_TOKEN, ROOT_KEY, create_rotation, free_port, row, states, update_row

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FAST = 180  # seconds B's clock runs ahead: minutes, far past the lease and the intent grace
LEASE_SECONDS = 1.5  # renewed every 0.5 s; a mint below takes several leases' length
MINT_SECONDS = 8.0  # A's scheduled mint: long enough for B to start and poll meanwhile, even on a busy machine
REQUIRED = os.environ.get("KEYTURN_TEST_FAKETIME_REQUIRED") == "1"
# libfaketime must leave the monotonic clock alone: faked, Python's timed waits never end.
FAKETIME_ENV = {"FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@pytest.fixture
def db_url(postgres_database) -> str:
    """PostgreSQL only (see the module's docstring)."""
    truncate_all(postgres_database)
    return postgres_database


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"libfaketime is required (KEYTURN_TEST_FAKETIME_REQUIRED=1) but {reason}")
    pytest.skip(f"clock-skew process tests skipped: {reason} (apt-get install faketime)")


LIBFAKETIME_PATHS = (
    "/usr/lib/*/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)


@pytest.fixture(scope="session")
def fast_clock() -> dict[str, str]:
    """The environment that runs a process with its clock FAST seconds ahead, checked to work. libfaketime
    is preloaded directly, not through the `faketime` wrapper, so a signal reaches the process itself."""
    found = sorted(path for pattern in LIBFAKETIME_PATHS for path in glob.glob(pattern))
    if not found:
        _unavailable("libfaketime is not installed")
    env = {"LD_PRELOAD": found[0], "FAKETIME": f"+{FAST}s", **FAKETIME_ENV}
    probe = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        _unavailable(f"a process under libfaketime failed: {probe.stderr.strip()[-300:]}")
    offset = float(probe.stdout) - time.time()
    if not FAST - 10 < offset < FAST + 10:
        _unavailable(f"libfaketime moved the clock by {offset:.0f} s instead of {FAST}")
    return env


def _env(settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    env.update(
        {
            "KEYTURN_DATABASE_URL": settings.database_url,
            "KEYTURN_ROOT_KEY": ROOT_KEY,
            "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
            "KEYTURN_OPENROUTER_BASE_URL": settings.openrouter_base_url,
            "KEYTURN_AROUTER_BASE_URL": settings.arouter_base_url,
            "KEYTURN_ROTATION_INTERVAL_UNIT": "seconds",
            "KEYTURN_WORKER_POLL_SECONDS": "0.1",
            "KEYTURN_LEASE_SECONDS": str(LEASE_SECONDS),
            "KEYTURN_HTTP_TIMEOUT_SECONDS": str(MINT_SECONDS + 6),
            "KEYTURN_LOG_LEVEL": "INFO",
            **(extra or {}),
        }
    )
    return env


class Process:
    """A keyturn command run in the background, its output in a file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@pytest.fixture
def processes() -> Iterator[Callable[[list[str], dict[str, str], Path], Process]]:
    started: list[Process] = []

    def start(command: list[str], env: dict[str, str], log_path: Path) -> Process:
        process = Process(command, env, log_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


WORKER = [sys.executable, "-m", "app.cli", "worker"]


def test_a_worker_minutes_fast_never_takes_a_lease_the_other_holds(
    provider_case, settings, tmp_path, fast_clock, processes
):
    case = provider_case
    settings.rotation_interval_unit = "seconds"
    settings.lease_seconds = LEASE_SECONDS
    settings.http_timeout_seconds = MINT_SECONDS + 6
    rotation = create_rotation(case, interval=40)  # g1; the next run, 40 s after one ends, is not in this test
    creates = case.create_count
    case.fault("mint", kind="latency", delay=MINT_SECONDS)

    # A, whose clock is right, claims the due rotation; its mint is slow, so its heartbeat renews the lease.
    update_row(rotation.id, next_rotation_at=utcnow())
    a = processes(WORKER, _env(settings), tmp_path / "a.log")
    wait_for(lambda: row(rotation.id).lease_owner is not None, 20, "worker A holds the lease")
    a_owner = row(rotation.id).lease_owner

    # B, three minutes fast, starts while A's run is in flight: by B's clock A's lease ran out long ago.
    b = processes(WORKER, _env(settings, fast_clock), tmp_path / "b.log")
    wait_for(lambda: "worker started" in b.log, 20, "worker B polls")
    assert row(rotation.id).lease_owner == a_owner, "A's run ended before B polled: the test proves nothing"

    # A's run ends; by B's clock the next run (40 s later) is long due, by the database's it is not.
    wait_for(lambda: row(rotation.id).lease_owner is None, 20, "A's run ends")
    time.sleep(1.0)  # ten of B's polls
    assert case.create_count == creates + 1, "one scheduled run minted more than one key"
    assert states(rotation.id) == {1: "inactive", 2: "active"}

    # A manual rotation here (clock right, slow mint, lease renewed), while B keeps polling: B must not cut in.
    case.fault("mint", kind="latency", delay=3)
    rotated = engine.rotate(rotation.id, manual=True)  # a LeaseLost here would be the 500
    assert rotated.rotation_status == "success"
    assert case.create_count == creates + 2
    assert states(rotation.id) == {1: "revoked", 2: "inactive", 3: "active"}

    for process in (a, b):
        process.stop()
        assert process.popen.returncode == 0, process.log[-3000:]
        assert "lost the lease" not in process.log and "LeaseLost" not in process.log, process.log[-3000:]
    assert "scheduled run of rotation" not in b.log, b.log[-3000:]
    assert FAST - 10 < reported_skew(b.log) < FAST + 10, b.log[-3000:]
    assert "CLOCK SKEW" not in a.log


def reported_skew(log: str) -> float:
    """The seconds ahead named by the start-up warning."""
    found = re.search(r"CLOCK SKEW: this process's clock is ([0-9.]+) s ahead of the database's", log)
    assert found, "no clock-skew warning at start"
    return float(found.group(1))


def test_serve_minutes_fast_says_so_at_start_and_in_status(settings, tmp_path, fast_clock, processes):
    port = free_port()
    serve = processes(
        [sys.executable, "-m", "app.cli", "serve"],
        _env(settings, {**fast_clock, "KEYTURN_PORT": str(port), "KEYTURN_WORKER": "off"}),
        tmp_path / "serve.log",
    )

    def answers() -> bool:
        assert serve.popen.poll() is None, serve.log[-3000:]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, 30, "keyturn serve answers")
    body = httpx.get(f"http://127.0.0.1:{port}/api/status").json()
    assert "clock-skew" in body["status"].split(",")  # beside `worker`: this server runs none
    assert FAST - 10 < body["clockSkewSeconds"] < FAST + 10
    skew = body["checks"]["clock-skew"]
    assert skew["ok"] is False
    assert skew["message"].startswith("this process's clock is ") and "ahead of the database's" in skew["message"]
    assert FAST - 10 < reported_skew(serve.log) < FAST + 10
