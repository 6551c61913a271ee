"""Rotation throughput: N rotations due at once against the emulator with a fixed latency per call, for 1 and 4
`keyturn worker` processes, on a fresh SQLite file and a fresh PostgreSQL database.

    .venv/bin/python -m bench.rotation_throughput               # both databases, N = 1000 and 10000 (about 25 min)
    .venv/bin/python -m bench.rotation_throughput --databases sqlite --sizes 1000 --workers 1

For each database and N the rotations are created through the API (latency 0 while creating), then for each
worker count every rotation is made due at once (next_rotation_at = the database's now) and the workers, started
beforehand and idle, pick them up. The first round publishes each rotation's second key (mint and verify: two
provider calls); later rounds are the steady state (a third call revokes the key from two generations back).

It prints, per round: the wall time until every rotation published a new key and the revocation queue is empty;
the provider calls made (counted at the emulator); the ideal time (calls x latency / concurrency, where
concurrency = workers x min(worker, provider) concurrency) and the ratio to it; the workers' CPU per rotation
and peak RSS; and where the CPU went (the workers, PostgreSQL's processes, the emulator, and the whole machine,
against what its cores could give in that wall time), so a reader sees what the limit was. The machine's CPU
count, load average and the exact command of each side are printed with the table. It checks that the provider
saw exactly N creates per round.

Absolute milliseconds do not compare across runs on a virtual machine (the same code measured 7 and 13.5 ms of
worker CPU per rotation a night apart), so each N also runs a baseline in the same run: bench/_bare_rotator.py, the
least work any rotator must do for the same round (mint, verify and revoke through one httpx client, an AES-GCM
seal, one UPDATE and commit per rotation, in as many threads as a worker's concurrency; no leases, intents, audit,
webhooks or ORM). Its table is set up with a first key per row next to keyturn's rotations; right after the 1-worker
round it runs twice against the same emulator, database and latency: a first round (mint and verify, 2 calls) and
a steady round (3 calls), each checked at the emulator for exactly 2N or 3N calls and N creates. They print as
'bare' rows, and each keyturn round gets the column "worker CPU / bare CPU": its worker CPU per rotation divided by
the bare rotator's for the same kind of round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<name>.py`: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from app.db import normalise_url
from bench import _bare_round
from bench._cpu import PostgresCpu, available_cpus, load_average, machine_busy_seconds
from bench._harness import (
    DEFAULT_POSTGRES_URL,
    ApiServer,
    Emulator,
    FreshPostgres,
    FreshSqlite,
    Keyturn,
    KeyturnConfig,
    WorkerPool,
    create_rotations,
    database_now_sql,
    fresh_database,
    log,
    migrate,
)

ROUNDS = {"first": "first: mint+verify", "steady": "steady: mint+verify+revoke"}
NEVER = 3650  # the largest interval accepted; in seconds, about an hour: nothing falls due by itself
PENDING_SQL = "SELECT count(*) FROM rotation_credential WHERE state IN ('pending', 'revoking', 'minted')"
SHOWN_SETTINGS = (
    "KEYTURN_WORKER_CONCURRENCY",
    "KEYTURN_PROVIDER_MAX_CONCURRENCY",
    "KEYTURN_PROVIDER_RATE_PER_SECOND",
    "KEYTURN_WORKER_POLL_SECONDS",
    "KEYTURN_LEASE_SECONDS",
    "KEYTURN_HTTP_TIMEOUT_SECONDS",
    "KEYTURN_REVOCATION_MIN_OVERLAP_SECONDS",
    "KEYTURN_ROTATION_INTERVAL_UNIT",
)


class Probe:
    """One connection that watches the round, so the watching does not open a connection (a new PostgreSQL
    backend) per look."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_engine(normalise_url(url), pool_size=1, max_overflow=0)
        self.now_sql = database_now_sql(url)
        with self.engine.connect() as conn:
            self.backend_pid = (
                conn.execute(text("SELECT pg_backend_pid()")).scalar() if conn.dialect.name == "postgresql" else None
            )

    def scalar(self, query: str, **params) -> object:
        with self.engine.begin() as conn:
            return conn.execute(text(query), params).scalar()

    def execute(self, query: str, **params) -> int:
        with self.engine.begin() as conn:
            return conn.execute(text(query), params).rowcount

    def close(self) -> None:
        self.engine.dispose()


def run_round(
    *,
    config: KeyturnConfig,
    emulator: Emulator,
    probe: Probe,
    db: object,
    log_dir: Path,
    n: int,
    workers: int,
    kind: str,
    args,
) -> dict:
    pool = WorkerPool(config, log_dir, workers)
    pool.start()  # started first and idle, so the timing excludes interpreter start-up
    rotated_at = None
    postgres = None
    try:
        time.sleep(3)
        pool.check_alive()
        cpu_before = sum(w.cpu_seconds() for w in pool.workers)
        emulator_before = emulator.process.cpu_seconds()
        before = emulator.state()
        emulator.set_latency(args.latency)
        if isinstance(db, FreshPostgres):
            postgres = PostgresCpu(db.name, exclude={probe.backend_pid} if probe.backend_pid else None)
        busy_before = machine_busy_seconds()
        marker = probe.scalar(f"SELECT {probe.now_sql}")
        started = time.monotonic()
        probe.execute(
            f"UPDATE secret_rotation SET next_rotation_at = {probe.now_sql}, is_auto_rotation_enabled = true, "
            "retry_not_before = NULL"
        )
        while True:
            pool.sample_memory()
            pool.check_alive()
            if postgres is not None:
                postgres.sample()
            rotated = probe.scalar("SELECT count(*) FROM secret_rotation WHERE last_rotated_at >= :t", t=marker)
            if rotated >= n and rotated_at is None:
                rotated_at = time.monotonic() - started
            if rotated_at is not None and probe.scalar(PENDING_SQL) == 0:
                break
            if time.monotonic() - started > args.timeout:
                raise TimeoutError(f"round N={n} workers={workers}: only {rotated}/{n} rotated after {args.timeout}s")
            time.sleep(0.25)
        wall = time.monotonic() - started
        busy = machine_busy_seconds() - busy_before
        memory = pool.sample_memory()
        cpu = sum(w.cpu_seconds() for w in pool.workers) - cpu_before
        emulator_cpu = emulator.process.cpu_seconds() - emulator_before
        if postgres is not None:
            postgres.sample()
    finally:
        pool.stop()
    emulator.set_latency(0)
    after = emulator.state()
    calls = after["request_count"] - before["request_count"]
    creates = after["create_count"] - before["create_count"]
    concurrency = workers * min(config.worker_concurrency, config.provider_max_concurrency)
    ideal = calls * args.latency / concurrency
    pg = postgres.seconds() if postgres is not None else {}
    return {
        "n": n,
        "workers": workers,
        "round": kind,
        "wall_s": round(wall, 1),
        "rotated_s": round(rotated_at, 1),
        "rotations_per_s": round(n / wall, 1),
        "calls": calls,
        "creates": creates,
        "ideal_s": round(ideal, 1),
        "ratio": round(wall / ideal, 2) if ideal else None,
        "peak_rss_mib": round(max(memory) / 1024, 1),
        "cpu_s_per_rotation": cpu / n,
        "worker_cpu_ms_per_rotation": round(cpu * 1000 / n, 1),
        "worker_cpu_s": round(cpu, 1),
        "postgres_backends_s": round(pg["backends"], 1) if pg else None,
        "postgres_background_s": round(pg["background"], 1) if pg else None,
        "emulator_cpu_s": round(emulator_cpu, 1),
        "machine_busy_s": round(busy, 1),
        "machine_capacity_s": round(wall * available_cpus(), 1),
    }


def commands(config: KeyturnConfig, emulator: Emulator, db: FreshPostgres | FreshSqlite, concurrency: int) -> list[str]:
    env = config.env()
    settings = " ".join(f"{name}={env[name]}" for name in SHOWN_SETTINGS if name in env)
    return [
        f"workers:  {settings} keyturn worker   (KEYTURN_DATABASE_URL, root key and admin token set; one process each)",
        f"emulator: {' '.join(Path(a).name if a.endswith('python') else a for a in emulator.process.argv)}",
        _bare_round.shown_command(db, emulator, concurrency),
    ]


def bench_database(kind: str, args, log_dir: Path) -> tuple[list[dict], list[str]]:
    rows: list[dict] = []
    shown: list[str] = []
    for n in args.sizes:
        size_dir = log_dir / f"{kind}-n{n}"
        size_dir.mkdir()
        db = fresh_database(kind, args.postgres_url, size_dir)
        emulator = api_server = probe = None
        try:
            emulator = Emulator(size_dir)
            config = KeyturnConfig(
                database_url=db.url,
                openrouter_base_url=emulator.base_url,
                poll_seconds=args.poll,
                lease_seconds=60.0,
                http_timeout_seconds=10.0,
                worker_concurrency=args.concurrency,
                provider_max_concurrency=args.concurrency,
                provider_rate_per_second=0,
                provider_burst=args.concurrency,
            )
            migrate(config)
            api_server = ApiServer(config, size_dir)
            api = Keyturn(api_server.url, config.admin_token)
            project = api.create_project("bench")
            connection = api.create_connection(project["id"], emulator.management_key)
            started = time.monotonic()
            create_rotations(
                api,
                project_id=project["id"],
                connection_id=connection["id"],
                count=n,
                interval=NEVER,
                secret_path="/bench",
                prefix="bench",
                parallel=8,
            )
            log(f"{kind} N={n}: created in {time.monotonic() - started:.1f}s")
            api.close()
            api_server.stop()  # the rounds measure the workers alone
            api_server = None
            _bare_round.setup(db, emulator, n=n, concurrency=args.concurrency)
            shown = commands(config, emulator, db, args.concurrency)
            probe = Probe(db.url)
            found: list[dict] = []
            bare_after = 1 if 1 in args.workers else args.workers[0]
            for index, workers in enumerate(args.workers):
                row = run_round(
                    config=config,
                    emulator=emulator,
                    probe=probe,
                    db=db,
                    log_dir=size_dir,
                    n=n,
                    workers=workers,
                    kind=_bare_round.FIRST if index == 0 else _bare_round.STEADY,
                    args=args,
                )
                log(f"{kind} N={n} workers={workers}: {row}")
                if row["creates"] != n:
                    row["note"] = f"provider saw {row['creates']} creates for {n} rotations"
                found.append(row)
                if workers == bare_after:  # the baseline right after the 1-worker round, both kinds of round
                    for bare_kind in (_bare_round.FIRST, _bare_round.STEADY):
                        bare = _bare_round.run_round(
                            db=db,
                            emulator=emulator,
                            n=n,
                            kind=bare_kind,
                            latency=args.latency,
                            concurrency=args.concurrency,
                            exclude_backends={probe.backend_pid} if probe.backend_pid else None,
                        )
                        log(f"{kind} N={n} bare {bare_kind}: {bare}")
                        found.append(bare)
            baseline = {r["round"]: r["cpu_s_per_rotation"] for r in found if r["workers"] == "bare"}
            for row in found:
                row["database"] = kind
                if row["workers"] != "bare" and baseline.get(row["round"]):
                    row["vs_bare"] = round(row["cpu_s_per_rotation"] / baseline[row["round"]], 2)
            rows += found
        finally:
            if probe is not None:
                probe.close()
            if api_server is not None:
                api_server.stop()
            if emulator is not None:
                emulator.stop()
            db.drop()
    return rows, shown


def print_table(rows: list[dict], args, shown: dict[str, list[str]], load_before: str) -> None:
    print(
        f"\nRotation throughput: latency {args.latency * 1000:.0f} ms per provider call, worker and provider "
        f"concurrency {args.concurrency} per worker, poll {args.poll}s. Machine: {available_cpus()} CPUs available, "
        f"load average {load_before} before, {load_average()} after.\n"
    )
    for kind, lines in shown.items():
        print(f"Commands ({kind}):")
        for line in lines:
            print(f"  {line}")
    print(
        "\n| database | N | workers | round | wall (s) | ideal (s) | wall / ideal | rotations/s | provider calls | "
        "worker CPU per rotation (ms) | worker CPU / bare CPU | peak RSS per worker (MiB) | CPU s: workers | "
        "CPU s: PostgreSQL backends + background | CPU s: emulator | CPU s: whole machine / its capacity |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        postgres = (
            f"{r['postgres_backends_s']} + {r['postgres_background_s']}"
            if r["postgres_backends_s"] is not None
            else "-"
        )
        vs_bare = "1 (baseline)" if r["workers"] == "bare" else f"{r['vs_bare']}x" if r.get("vs_bare") else "-"
        print(
            f"| {r['database']} | {r['n']} | {r['workers']} | {ROUNDS[r['round']]} | {r['wall_s']} | {r['ideal_s']} | "
            f"{r['ratio']} | {r['rotations_per_s']} | {r['calls']} | {r['worker_cpu_ms_per_rotation']} | {vs_bare} | "
            f"{r['peak_rss_mib']} | "
            f"{r['worker_cpu_s']} | {postgres} | {r['emulator_cpu_s']} | "
            f"{r['machine_busy_s']} / {r['machine_capacity_s']} |"
        )
    print(
        "\nThe first round of each N publishes each rotation's second key (2 provider calls); later rounds also revoke "
        "the key from two generations back (3 calls). 'bare' rows are bench/_bare_rotator.py, the least work any "
        "rotator must do for the same round (one process of as many threads as a worker's concurrency: mint, verify, "
        "revoke, AES-GCM seal, one UPDATE and commit per rotation, nothing else), run right after the 1-worker round "
        "with the same latency, emulator and database; 'worker CPU / bare CPU' divides keyturn's worker CPU per "
        "rotation by the bare rotator's for the same kind of round (first with first, steady with steady). 'Whole "
        "machine' counts every process on it, other users' too; when it nears its capacity, the cores were the limit."
    )
    for r in rows:
        if r.get("note"):
            print(f"NOTE {r['database']} N={r['n']} workers={r['workers']}: {r['note']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rotation_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get("KEYTURN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    log_dir = Path(tempfile.mkdtemp(prefix="keyturn-throughput-"))
    load_before = load_average()
    rows: list[dict] = []
    shown: dict[str, list[str]] = {}
    try:
        for kind in args.databases:
            found, shown[kind] = bench_database(kind, args, log_dir)
            rows += found
    finally:
        if rows:
            print_table(rows, args, shown, load_before)
    ok = all(r["creates"] == r["n"] and not r.get("note") for r in rows)
    if ok:
        shutil.rmtree(log_dir, ignore_errors=True)
    else:
        print(f"logs kept in {log_dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
