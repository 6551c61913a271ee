"""The CI version of bench/chaos.py: a bounded run (about a minute) on a fresh PostgreSQL database
with two `keyturn worker` processes, 40 rotations on a seconds interval, a fault mix at the emulator
and workers SIGKILLed and restarted. Every invariant counter must be 0 and no consumer call may fail
with 401. The figures are printed even without `-s`.
"""

from __future__ import annotations

import os

import pytest

from bench.chaos import ChaosConfig, print_report, run_chaos

POSTGRES_URL = os.environ.get("KEYTURN_TEST_POSTGRES_URL")
REQUIRED = os.environ.get("KEYTURN_TEST_POSTGRES_REQUIRED") == "1"


@pytest.mark.slow
@pytest.mark.postgres
def test_chaos_short_keeps_every_invariant(capsys):
    if not POSTGRES_URL:
        if REQUIRED:
            pytest.fail("KEYTURN_TEST_POSTGRES_URL is not set but PostgreSQL tests are required")
        pytest.skip(
            "chaos test skipped: set KEYTURN_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    cfg = ChaosConfig(
        postgres_url=POSTGRES_URL,
        workers=2,
        rotations=40,
        interval=8,
        duration=35.0,
        kill_min=4.0,
        kill_max=9.0,
        restart_min=0.5,
        restart_max=2.0,
        consumers=6,
        settle_timeout=45.0,
        seed=11,
    )
    report = run_chaos(cfg)
    with capsys.disabled():
        print_report(report)

    assert report["orphaned_keys"] == 0, report["orphan_names"]
    assert report["untracked_keys"] == 0
    assert report["published_key_fails"] == 0
    assert report["over_two_live_keys"] == 0
    assert report["double_mints"] == 0
    assert report["pending_revocations"] == 0
    assert report["minted_unpublished"] == 0
    assert report["consumer_failed_401"] == 0
    assert report["settled"], "the invariants did not hold within the settle timeout"
    assert report["disabled"] == cfg.rotations
    # The run must have done real work, or zeros prove nothing.
    assert report["kills"] >= 3
    assert report["faults_injected"] >= 10
    assert report["rotations_completed"] >= cfg.rotations
    assert report["consumer_calls"] > 0
