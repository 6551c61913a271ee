"""Rotation throughput: N rotations due at once against the emulator with a fixed latency per call,
for 1 and 4 `keyturn worker` processes on one fresh PostgreSQL database.

    .venv/bin/python -m bench.rotation_throughput                  # N = 100, 1000, 10000
    .venv/bin/python -m bench.rotation_throughput --sizes 100 1000 --latency 0.05

For each N the rotations are created through the API (latency 0 while creating), then for each worker
count every rotation is made due at once (next_rotation_at = now() in the database) and the workers
are started. It prints the wall time until every rotation published a new key and the revocation
queue is empty, rotations/s, the provider calls made (counted at the emulator), the ideal time
(calls x latency / concurrency, concurrency = workers x min(worker, provider) concurrency), the ratio
to it, and the peak RSS per worker. It also checks that the provider saw exactly N creates per round.
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

from bench._harness import (
    DEFAULT_POSTGRES_URL,
    ApiServer,
    Emulator,
    FreshPostgres,
    Keyturn,
    KeyturnConfig,
    WorkerPool,
    create_rotations,
    log,
    migrate,
    sql_execute,
    sql_scalar,
)

NEVER = 3650  # the largest interval accepted; in seconds, about an hour: nothing falls due by itself
PENDING_SQL = "SELECT count(*) FROM rotation_credential WHERE state IN ('pending', 'revoking', 'minted')"


def run_round(
    *,
    config: KeyturnConfig,
    emulator: Emulator,
    db_url: str,
    log_dir: Path,
    n: int,
    workers: int,
    latency: float,
    timeout: float,
) -> dict:
    pool = WorkerPool(config, log_dir, workers)
    pool.start()  # started first and idle, so the timing excludes interpreter start-up
    rotated_at = None
    try:
        time.sleep(3)
        pool.check_alive()
        cpu_before = sum(w.cpu_seconds() for w in pool.workers)
        before = emulator.state()
        emulator.set_latency(latency)
        marker = sql_scalar(db_url, "SELECT now()")
        started = time.monotonic()
        sql_execute(
            db_url,
            "UPDATE secret_rotation SET next_rotation_at = :t, is_auto_rotation_enabled = true, "
            "retry_not_before = NULL",
            t=marker,
        )
        while True:
            pool.sample_memory()
            pool.check_alive()
            rotated = sql_scalar(db_url, "SELECT count(*) FROM secret_rotation WHERE last_rotated_at >= :t", t=marker)
            if rotated >= n and rotated_at is None:
                rotated_at = time.monotonic() - started
            if rotated_at is not None and sql_scalar(db_url, PENDING_SQL) == 0:
                break
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"round N={n} workers={workers}: only {rotated}/{n} rotated after {timeout}s")
            time.sleep(0.25)
        wall = time.monotonic() - started
        memory = pool.sample_memory()
        cpu = sum(w.cpu_seconds() for w in pool.workers) - cpu_before
    finally:
        pool.stop()
    emulator.set_latency(0)
    after = emulator.state()
    calls = after["request_count"] - before["request_count"]
    creates = after["create_count"] - before["create_count"]
    concurrency = workers * min(config.worker_concurrency, config.provider_max_concurrency)
    ideal = calls * latency / concurrency
    return {
        "n": n,
        "workers": workers,
        "wall_s": round(wall, 1),
        "rotated_s": round(rotated_at, 1),
        "rotations_per_s": round(n / wall, 1),
        "calls": calls,
        "creates": creates,
        "ideal_s": round(ideal, 1),
        "ratio": round(wall / ideal, 2) if ideal else None,
        "peak_rss_mib": round(max(memory) / 1024, 1),
        "worker_cpu_ms_per_rotation": round(cpu * 1000 / n, 1),
    }


def bench_size(n: int, args, log_dir: Path) -> list[dict]:
    db = FreshPostgres(args.postgres_url, prefix="keyturn_bench")
    emulator = api_server = None
    try:
        emulator = Emulator(log_dir)
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
        api_server = ApiServer(config, log_dir)
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
        log(f"N={n}: created in {time.monotonic() - started:.1f}s")
        api.close()
        api_server.stop()  # the rounds measure the workers alone
        api_server = None
        rows = []
        for workers in args.workers:
            row = run_round(
                config=config,
                emulator=emulator,
                db_url=db.url,
                log_dir=log_dir,
                n=n,
                workers=workers,
                latency=args.latency,
                timeout=args.timeout,
            )
            log(f"N={n} workers={workers}: {row}")
            if row["creates"] != n:
                row["note"] = f"provider saw {row['creates']} creates for {n} rotations"
            rows.append(row)
        return rows
    finally:
        if api_server is not None:
            api_server.stop()
        if emulator is not None:
            emulator.stop()
        db.drop()


def print_table(rows: list[dict], args) -> None:
    print(
        f"\nRotation throughput: latency {args.latency * 1000:.0f} ms per provider call, "
        f"worker and provider concurrency {args.concurrency} per worker, poll {args.poll}s, PostgreSQL\n"
    )
    print(
        "| N | workers | wall (s) | all rotated (s) | rotations/s | provider calls | creates | ideal (s) "
        "| wall / ideal | peak RSS per worker (MiB) | worker CPU per rotation (ms) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['n']} | {r['workers']} | {r['wall_s']} | {r['rotated_s']} | {r['rotations_per_s']} | "
            f"{r['calls']} | {r['creates']} | {r['ideal_s']} | {r['ratio']} | {r['peak_rss_mib']} | "
            f"{r.get('worker_cpu_ms_per_rotation', '')} |"
        )
    for r in rows:
        if r.get("note"):
            print(f"NOTE N={r['n']} workers={r['workers']}: {r['note']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rotation_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get("KEYTURN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    log_dir = Path(tempfile.mkdtemp(prefix="keyturn-throughput-"))
    rows: list[dict] = []
    try:
        for n in args.sizes:
            size_dir = log_dir / f"n{n}"
            size_dir.mkdir()
            rows += bench_size(n, args, size_dir)
    finally:
        if rows:
            print_table(rows, args)
    ok = all(r["creates"] == r["n"] for r in rows)
    if ok:
        shutil.rmtree(log_dir, ignore_errors=True)
    else:
        print(f"logs kept in {log_dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
