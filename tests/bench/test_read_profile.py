"""The in-process read profile runs and reports each layer of a cached read, and a 304 against a 200."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_profile_reports_every_layer_in_microseconds():
    done = subprocess.run(
        [sys.executable, "-m", "bench.read_profile", "--requests", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for layer in ("keyturn app (middleware", "the read route alone", "service.read_secret alone", "bare FastAPI app"):
        assert layer in done.stdout and " us" in done.stdout, done.stdout
    for read in ("v3 get", "v4 list"):
        assert f"{read}, 200 " in done.stdout and f"{read}, 304 (If-None-Match)" in done.stdout, done.stdout
        assert f"304 / 200 CPU, {read}: " in done.stdout, done.stdout
