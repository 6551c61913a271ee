"""The rotation bench's side of the bare rotator (bench._bare_rotator): set its table up, run one round of it as
its own process against the bench's emulator and database, and measure that round the way a keyturn round is
measured (its own CPU, PostgreSQL's, the emulator's and the whole machine's), checking the calls at the emulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from app.db import normalise_url
from bench._cpu import PostgresCpu, available_cpus, machine_busy_seconds
from bench._harness import REPO, Emulator, FreshPostgres, FreshSqlite

FIRST, STEADY = "first", "steady"
CALLS_PER_ROTATION = {FIRST: 2, STEADY: 3}  # mint + verify, then + revoke of the key two generations back


def argv(command: str, db: FreshPostgres | FreshSqlite, emulator: Emulator, concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench._bare_rotator",
        command,
        "--database-url",
        db.url,
        "--base-url",
        emulator.base_url,
        "--management-key-file",
        str(emulator.key_file),
        "--concurrency",
        str(concurrency),
    ]


def shown_command(db: FreshPostgres | FreshSqlite, emulator: Emulator, concurrency: int) -> str:
    """The `rotate` command as run, the interpreter by name and the database URL without a password."""
    parts = argv("rotate", db, emulator, concurrency)
    parts[0] = Path(parts[0]).name
    parts[parts.index("--database-url") + 1] = make_url(normalise_url(db.url)).render_as_string(hide_password=True)
    return f"bare:     {' '.join(parts)}   (one process per round, after `setup --n N`)"


def _result(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def setup(db: FreshPostgres | FreshSqlite, emulator: Emulator, *, n: int, concurrency: int) -> None:
    """The bare table with N rows and a first key each, minted at latency 0 (as the bench creates keyturn's)."""
    emulator.set_latency(0)
    done = subprocess.run(
        [*argv("setup", db, emulator, concurrency), "--n", str(n)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bare rotator setup failed:\n{done.stdout}\n{done.stderr}")
    if _result(done.stdout)["creates"] != n:
        raise RuntimeError(f"bare rotator setup made the wrong number of keys: {done.stdout}")


def run_round(
    *,
    db: FreshPostgres | FreshSqlite,
    emulator: Emulator,
    n: int,
    kind: str,
    latency: float,
    concurrency: int,
    exclude_backends: set[int] | None = None,
) -> dict:
    """One round of the bare rotator (every row once); `kind` is the round this is expected to be."""
    proc = subprocess.Popen(
        [*argv("rotate", db, emulator, concurrency), "--wait-for-go"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if proc.stdout.readline().strip() != "ready":  # imports, engine, client and connections made
            raise RuntimeError(f"bare rotator did not start:\n{proc.stderr.read()}")
        before = emulator.state()
        emulator.set_latency(latency)
        postgres = PostgresCpu(db.name, exclude=exclude_backends) if isinstance(db, FreshPostgres) else None
        emulator_before = emulator.process.cpu_seconds()
        busy_before = machine_busy_seconds()
        started = time.monotonic()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        while proc.poll() is None:
            if postgres is not None:
                postgres.sample()
            time.sleep(0.25)
        wall = time.monotonic() - started
        busy = machine_busy_seconds() - busy_before
        emulator_cpu = emulator.process.cpu_seconds() - emulator_before
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    emulator.set_latency(0)
    if proc.returncode != 0:
        raise RuntimeError(f"bare rotator round failed ({proc.returncode}):\n{err}")
    after = emulator.state()
    result = _result(out)
    calls = after["request_count"] - before["request_count"]
    creates = after["create_count"] - before["create_count"]
    ideal = calls * latency / concurrency
    pg = postgres.seconds() if postgres is not None else {}
    row = {
        "n": n,
        "workers": "bare",
        "round": kind,
        "wall_s": round(result["wall_s"], 1),
        "rotations_per_s": round(n / result["wall_s"], 1),
        "calls": calls,
        "creates": creates,
        "ideal_s": round(ideal, 1),
        "ratio": round(result["wall_s"] / ideal, 2) if ideal else None,
        "peak_rss_mib": result["peak_rss_mib"],
        "cpu_s_per_rotation": result["cpu_s"] / n,
        "worker_cpu_ms_per_rotation": round(result["cpu_s"] * 1000 / n, 2),
        "worker_cpu_s": round(result["cpu_s"], 1),
        "postgres_backends_s": round(pg["backends"], 1) if pg else None,
        "postgres_background_s": round(pg["background"], 1) if pg else None,
        "emulator_cpu_s": round(emulator_cpu, 1),
        "machine_busy_s": round(busy, 1),
        "machine_capacity_s": round(wall * available_cpus(), 1),
    }
    expected = CALLS_PER_ROTATION[kind] * n
    if not (calls == result["calls"] == expected and creates == result["creates"] == n == result["n"]):
        row["note"] = (
            f"bare {kind} round: emulator saw {calls} calls and {creates} creates, the rotator reported "
            f"{result['calls']} calls for {result['n']} rows; expected {expected} calls and {n} creates"
        )
    return row
