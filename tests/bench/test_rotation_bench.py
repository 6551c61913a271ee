"""The rotation benchmark's own parts: where PostgreSQL's CPU is counted, and one short run per database (slow),
with the bare rotator's rounds as its baseline."""

from __future__ import annotations

import os

import pytest

from bench import _cpu, rotation_throughput


def test_postgres_cpu_counts_the_benched_database_and_the_servers_own_processes(monkeypatch):
    titles = {
        10: ("postgres", "postgres: 15/main: postgres keyturn_bench_1 127.0.0.1(5000) idle"),
        11: ("postgres", "postgres: 15/main: postgres keyturn_bench_1 127.0.0.1(5001) UPDATE"),
        12: ("postgres", "postgres: 15/main: postgres other_db 127.0.0.1(5002) SELECT"),
        13: ("postgres", "postgres: 15/main: walwriter"),
        14: ("python3", "python3 -m keyturn_bench_1"),
        15: ("postgres", "postgres: 15/main: postgres keyturn_bench_1 127.0.0.1(5003) idle"),
    }
    cpu = {10: 1.0, 11: 2.0, 12: 5.0, 13: 0.5, 14: 9.0, 15: 1.0}
    monkeypatch.setattr(_cpu.os, "listdir", lambda _path: [str(pid) for pid in titles])
    monkeypatch.setattr(_cpu, "_comm", lambda pid: titles[pid][0])
    monkeypatch.setattr(_cpu, "_cmdline", lambda pid: titles[pid][1])
    monkeypatch.setattr(_cpu, "process_cpu_seconds", lambda pid: cpu[pid])

    meter = _cpu.PostgresCpu("keyturn_bench_1", exclude={15})  # 15: the bench's own watching connection
    cpu.update({10: 1.5, 11: 4.0, 12: 50.0, 13: 0.75, 14: 90.0, 15: 9.0})
    titles[16] = ("postgres", "postgres: 15/main: postgres keyturn_bench_1 127.0.0.1(5004) INSERT")  # born meanwhile
    cpu[16] = 0.25
    meter.sample()

    assert meter.seconds() == {"backends": 0.5 + 2.0 + 0.25, "background": 0.25}


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_short_round_rotates_every_rotation_once_per_worker_count(database, capsys):
    url = os.environ.get("KEYTURN_TEST_POSTGRES_URL")
    if database == "postgresql" and not url:
        if os.environ.get("KEYTURN_TEST_POSTGRES_REQUIRED") == "1":
            pytest.fail("KEYTURN_TEST_POSTGRES_URL is not set but PostgreSQL tests are required")
        pytest.skip("PostgreSQL bench run skipped: set KEYTURN_TEST_POSTGRES_URL")
    argv = ["--databases", database, "--sizes", "6", "--workers", "1", "2", "--latency", "0.01", "--poll", "0.2"]
    if url:
        argv += ["--postgres-url", url]

    assert rotation_throughput.main(argv) == 0

    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(f"| {database} | 6 |")]
    assert len(rows) == 4, out  # the 1- and 2-worker rounds, and the bare rotator's first and steady rounds
    assert "CPUs available" in out and "keyturn worker" in out and "bench._emulator" in out
    assert "bench._bare_rotator rotate" in out and "worker CPU / bare CPU" in out
    bare = [line for line in rows if line.startswith(f"| {database} | 6 | bare |")]
    assert len(bare) == 2 and all("| 1 (baseline) |" in line for line in bare), out
    assert sum("x |" in line for line in rows) == 2, out  # each keyturn round has its multiple of the bare CPU
