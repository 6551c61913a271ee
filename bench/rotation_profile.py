"""Where a rotation's worker CPU goes: SQL statements, commits and CPU per phase, per database.

    .venv/bin/python -m bench.rotation_profile                       # SQLite and PostgreSQL, N = 300
    .venv/bin/python -m bench.rotation_profile --databases sqlite -n 500 --cprofile 30

The rotations are created through the API (a `keyturn serve` process), against the emulator in a process of
its own at latency 0. Then this process plays one worker, one rotation at a time, on the main thread: claim
(`lease.claim_due`), `engine.rotate` under the claimed lease (which gives it back), and a revocation drain and
intent reconcile after every batch, as `Worker.tick` does. Two rounds: the first publishes generation 2
(nothing to revoke yet), the second is the steady state (the key from two generations back is revoked too).

Each phase's CPU is this thread's CPU time (`time.thread_time`) spent in it, nested phases excluded, and its
statements and commits are counted by SQLAlchemy events. The provider client's own CPU (httpx, the wire
format) is a phase of its own, so it can be told from the rotation core's.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<name>.py`: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event

from bench._harness import (
    DEFAULT_POSTGRES_URL,
    ApiServer,
    Emulator,
    Keyturn,
    KeyturnConfig,
    create_rotations,
    fresh_database,
    log,
    migrate,
    sql_execute,
)

# (module, attribute, phase): each wrapped callable charges its own time to its phase.
PHASES = [
    ("app.rotation.lease", "claim_due", "claim"),
    ("app.rotation.lease", "acquire", "lease take/release"),
    ("app.rotation.lease", "release", "lease take/release"),
    ("app.rotation.attempt", "begin", "intent"),
    ("app.rotation.reconcile", "reconcile", "reconcile (own rotation)"),
    ("app.rotation.engine", "_rotate_leased", "intent"),
    ("app.rotation.engine", "_row", "re-read row"),
    ("app.rotation.engine", "reconcile_rotation", "reconcile (own rotation)"),
    ("app.rotation.engine", "_upstream", "connection + credentials"),
    ("app.rotation.attempt", "_record_intent", "intent"),
    ("app.rotation.attempt", "_open_intents", "intent"),
    ("app.rotation.minting", "store_minted", "store minted"),
    ("app.rotation.minting", "mint_and_verify", "mint/verify glue"),
    ("app.rotation.publish", "new_key", "publish"),
    ("app.rotation.audit_events", "record", "audit"),
    ("app.rotation.engine", "revoke_now", "revoke (inline)"),
    ("app.rotation.revocations", "drain", "revocation drain"),
    ("app.rotation.reconcile", "reconcile_abandoned", "reconcile (poll)"),
    ("app.rotation.upstream", "for_connection", "connection + credentials"),
    ("app.rotation.upstream", "Upstream.mint", "provider client"),
    ("app.rotation.upstream", "Upstream.verify", "provider client"),
    ("app.rotation.upstream", "Upstream.revoke", "provider client"),
    ("app.rotation.upstream", "Upstream.list_keys", "provider client"),
]


class PhaseMeter:
    """Exclusive thread CPU, statements and commits per phase, on the thread that runs the rotations."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.statements: dict[str, int] = defaultdict(int)
        self.commits: dict[str, int] = defaultdict(int)
        self.other_thread_statements = 0
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[str] = []
        self._mark = time.thread_time()
        self._thread = threading.get_ident()

    def _switch(self) -> None:
        now = time.thread_time()
        self.cpu[self._stack[-1] if self._stack else "worker loop"] += now - self._mark
        self._mark = now

    def wrap(self, phase: str, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if threading.get_ident() != self._thread:
                return function(*args, **kwargs)
            self._switch()
            self._stack.append(phase)
            try:
                return function(*args, **kwargs)
            finally:
                self._switch()
                self._stack.pop()

        return timed

    def current(self) -> str | None:
        if threading.get_ident() != self._thread:
            return None
        return self._stack[-1] if self._stack else "worker loop"

    def on_statement(self, *_args) -> None:
        phase = self.current()
        if phase is None:
            self.other_thread_statements += 1
        else:
            self.statements[phase] += 1

    def on_commit(self, *_args) -> None:
        phase = self.current()
        if phase is not None:
            self.commits[phase] += 1

    def count_call(self, _frame, event: str, _arg) -> None:
        """A sys.setprofile hook: Python and C function calls per phase, a figure that load on a shared machine
        does not change (CPU time does)."""
        if event == "call" or event == "c_call":
            self.calls[self._stack[-1] if self._stack else "worker loop"] += 1

    def settle(self) -> None:
        """Charge the time since the last switch (call before reading the figures)."""
        self._switch()

    def reset(self) -> None:
        self._switch()
        self.cpu.clear()
        self.statements.clear()
        self.commits.clear()
        self.calls.clear()
        self.other_thread_statements = 0


METER = PhaseMeter()  # one per process: the wrappers are installed once and charge it


def install(meter: PhaseMeter) -> None:
    """Wrap every phase's callable (once per process) and count the installed engine's statements."""
    import importlib

    from app import db

    if not getattr(install, "done", False):
        for module_name, path, phase in PHASES:
            try:
                owner = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            *parents, attribute = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            if hasattr(owner, attribute):  # absent in older code (the profile also runs against a baseline)
                setattr(owner, attribute, meter.wrap(phase, getattr(owner, attribute)))
        install.done = True  # type: ignore[attr-defined]
    event.listen(db.engine(), "before_cursor_execute", meter.on_statement)
    event.listen(db.engine(), "commit", meter.on_commit)


def run_round(batch: int) -> int:
    """Rotate every due rotation once, `batch` claimed at a time; returns how many were rotated."""
    from app.rotation import engine, lease, reconcile, revocations

    done = 0
    while True:
        owner, claimed = lease.claim_due(batch)
        for rotation_id in claimed:
            try:
                engine.rotate(rotation_id, manual=False, job_id="profile", lease_owner=owner)
            except Exception:
                lease.release(rotation_id, owner)  # as the worker does: a finished run gave its lease back itself
                raise
            done += 1
        revocations.drain()
        reconcile.reconcile_abandoned()
        if not claimed:
            return done


def make_due(url: str) -> None:
    sql_execute(
        url, "UPDATE secret_rotation SET next_rotation_at = :t, retry_not_before = NULL", t="2000-01-01 00:00:00"
    )


def print_calls(meter: PhaseMeter, label: str, n: int) -> None:
    """Function calls per rotation and phase: steady under load, where CPU time is not."""
    print(f"\n{label}: function calls per rotation (Python and C)")
    print("| phase | calls |")
    print("|---|---:|")
    for phase, calls in sorted(meter.calls.items(), key=lambda item: -item[1]):
        print(f"| {phase} | {calls // n} |")
    print(f"| **total** | **{sum(meter.calls.values()) // n}** |")


def print_phases(meter: PhaseMeter, label: str, n: int, process_cpu: float) -> None:
    phases = sorted(set(meter.cpu) | set(meter.statements), key=lambda p: -meter.cpu.get(p, 0.0))
    total_cpu = sum(meter.cpu.values())
    print(f"\n{label}: {n} rotations; per rotation:")
    print("| phase | CPU (ms) | statements | commits |")
    print("|---|---:|---:|---:|")
    for phase in phases:
        print(
            f"| {phase} | {meter.cpu.get(phase, 0.0) * 1000 / n:.2f} | {meter.statements.get(phase, 0) / n:.1f} "
            f"| {meter.commits.get(phase, 0) / n:.1f} |"
        )
    print(
        f"| **total (main thread)** | **{total_cpu * 1000 / n:.2f}** | **{sum(meter.statements.values()) / n:.1f}** "
        f"| **{sum(meter.commits.values()) / n:.1f}** |"
    )
    print(f"process CPU per rotation (all threads): {process_cpu * 1000 / n:.2f} ms")
    if meter.other_thread_statements:
        print(f"statements on other threads (lease heartbeats): {meter.other_thread_statements}")


def profile_database(kind: str, args, log_dir: Path) -> None:
    database = fresh_database(kind, args.postgres_url, log_dir)
    emulator = api_server = None
    try:
        emulator = Emulator(log_dir)
        config = KeyturnConfig(
            database_url=database.url,
            openrouter_base_url=emulator.base_url,
            lease_seconds=60.0,
            http_timeout_seconds=10.0,
            provider_rate_per_second=0,
            worker_concurrency=8,
            provider_max_concurrency=8,
            provider_burst=8,
        )
        migrate(config)
        api_server = ApiServer(config, log_dir)
        api = Keyturn(api_server.url, config.admin_token)
        project = api.create_project("profile")
        connection = api.create_connection(project["id"], emulator.management_key)
        create_rotations(
            api,
            project_id=project["id"],
            connection_id=connection["id"],
            count=args.n,
            interval=3650,
            secret_path="/profile",
            prefix="profile",
        )
        api.close()
        api_server.stop()
        api_server = None
        log(f"{kind}: created {args.n} rotations")

        os.environ.update(config.env())
        from app.bootstrap import configure
        from app.config import Settings

        configure(Settings())
        meter = METER
        install(meter)
        # The steady state runs twice: timed, then with every function call counted (counting slows it down).
        rounds = [("first rotation (no revocation)", False), ("steady state (one revocation)", False)]
        rounds += [("steady state, calls counted", True)]
        if args.cprofile:
            rounds.append(("steady state under cProfile", False))
        for label, counted in rounds:
            make_due(database.url)
            meter.reset()
            cpu_before = time.process_time()
            profiler = cProfile.Profile(time.thread_time) if label.endswith("cProfile") else None
            if profiler:
                profiler.enable()
            if counted:
                sys.setprofile(meter.count_call)  # cProfile uses the same hook: never both
            done = run_round(args.batch)
            if counted:
                sys.setprofile(None)
            if profiler:
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.cprofile)
                print(f"\n{kind}, {label}: the top {args.cprofile} functions by {args.sort} (CPU inflated by cProfile)")
                print(out.getvalue())
                continue
            meter.settle()
            if counted:
                print_calls(meter, f"{kind}, {label}", done)
            else:
                print_phases(meter, f"{kind}, {label}", done, time.process_time() - cpu_before)
        from app import db

        db.engine().dispose()
    finally:
        if api_server is not None:
            api_server.stop()
        if emulator is not None:
            emulator.stop()
        database.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rotation_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get("KEYTURN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8, help="rotations claimed at once, like worker_concurrency")
    parser.add_argument(
        "--cprofile", type=int, default=0, help="also run a third round under cProfile and print its top N functions"
    )
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --cprofile (tottime, cumulative)")
    args = parser.parse_args(argv)
    for kind in args.databases:
        log_dir = Path(tempfile.mkdtemp(prefix=f"keyturn-profile-{kind}-"))
        try:
            profile_database(kind, args, log_dir)
        finally:
            shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
