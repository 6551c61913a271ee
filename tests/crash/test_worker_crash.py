"""A real `keyturn worker` is SIGKILLed at each step of a rotation, for each provider; a fresh worker must
clean up after it.

Afterwards: no key at the emulator that keyturn does not know, the published key works, at most two
live keys for the rotation, and no open intent left.

Kept bounded (5 kill points x 2 providers x 2 databases): the rotation is due at once, the lease, the
intent grace and the poll are as short as the settings allow, the rotation starts in steady state so the
doomed worker's first run reaches every kill point, and the test waits for the recovered state instead of
sleeping out the lease and the grace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app import db
from app.models import RotationCredential
from app.rotation import engine
from app.timeutil import utcnow
from tests.factories import ADMIN_TOKEN, ROOT_KEY, create_rotation, published_key, row, update_row

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KILL_POINTS = ["after_intent", "after_mint", "after_verify", "after_publish", "during_revoke"]
LEASE_SECONDS = 1.1  # the settings floor is > 1 s
GRACE_SECONDS = 1.0


def worker_env(settings, kill_at: str | None) -> dict[str, str]:
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
            "KEYTURN_HTTP_TIMEOUT_SECONDS": "1",
            "KEYTURN_INTENT_GRACE_SECONDS": str(GRACE_SECONDS),
            "KEYTURN_REVOKE_RETRY_BASE_SECONDS": "0.2",
            "KEYTURN_REVOKE_RETRY_MAX_SECONDS": "0.5",
            "KEYTURN_REVOCATION_MIN_OVERLAP_SECONDS": "0",  # rotations a second apart revoke at once
            "KEYTURN_REVOCATION_HOLD_WHILE_IN_USE": "false",  # without waiting for a quiet window of usage
            "KEYTURN_LOG_LEVEL": "INFO",
        }
    )
    if kill_at:
        env["KEYTURN_TEST_KILL_AT"] = kill_at
    return env


def start_worker(settings, log_path: Path, kill_at: str | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=ROOT,
        env=worker_env(settings, kill_at),
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )


def all_credentials(rotation_id: str) -> list[RotationCredential]:
    with Session(db.engine()) as session:
        return list(session.exec(select(RotationCredential).where(RotationCredential.rotation_id == rotation_id)))


def settled_problems(rotation_id: str, case) -> list[str]:
    """Every way the state can be wrong, as text; empty once everything is cleaned up."""
    creds = all_credentials(rotation_id)
    known = {c.key_id for c in creds if c.key_id}
    live = case.live_ids()
    problems = [f"unknown key at the emulator: {k[:12]}" for k in live - known]
    problems += [
        f"open intent g{c.generation} ({c.state})" for c in creds if c.state in ("pending", "minted", "revoking")
    ]
    published = {c.key_id for c in creds if c.state in ("active", "inactive")}
    if len(live) > 2 or live != published:
        problems.append(f"live keys {len(live)} differ from published {len(published)}")
    if not case.key_works(published_key(rotation_id)):
        problems.append("the published key does not work")
    return problems


def recovered_problems(rotation_id: str, case, first_new_generation: int) -> list[str]:
    """Settled, and the survivor went on rotating after cleaning up: it published a generation the dead
    worker never started."""
    problems = settled_problems(rotation_id, case)
    active = [c.generation for c in all_credentials(rotation_id) if c.state == "active"]
    if len(active) != 1 or active[0] < first_new_generation or row(rotation_id).rotation_status != "success":
        problems.append(f"no successful rotation since the crash (active generation {active})")
    return problems


def wait_until_recovered(rotation_id: str, case, first_new_generation: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    problems = recovered_problems(rotation_id, case, first_new_generation)
    while problems and time.monotonic() < deadline:
        time.sleep(0.1)
        problems = recovered_problems(rotation_id, case, first_new_generation)
    return problems


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_worker_killed_mid_rotation_leaves_no_orphan(provider_case, settings, tmp_path, kill_at):
    case = provider_case
    settings.rotation_interval_unit = "seconds"
    rotation = create_rotation(case, interval=1)
    # Steady state (two live generations), so the doomed worker's first run also revokes one; and due at
    # once, so it starts on the first poll.
    engine.rotate(rotation.id, manual=True)
    update_row(rotation.id, next_rotation_at=utcnow())

    doomed = start_worker(settings, tmp_path / "doomed.log", kill_at=kill_at)
    try:
        code = doomed.wait(timeout=20)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    log = (tmp_path / "doomed.log").read_text()
    assert code == -signal.SIGKILL, f"worker did not die at {kill_at} (exit {code}):\n{log[-3000:]}"
    assert case.key_prefix not in log and case.management_key not in log
    at_kill = row(rotation.id)
    assert at_kill.lease_owner is not None  # it died holding the lease

    survivor = start_worker(settings, tmp_path / "survivor.log")
    try:
        problems = wait_until_recovered(rotation.id, case, at_kill.next_generation, timeout=20)
        assert not problems, problems
    finally:
        survivor.send_signal(signal.SIGTERM)
        try:
            survivor.wait(timeout=15)
        except subprocess.TimeoutExpired:
            survivor.kill()
    log = (tmp_path / "survivor.log").read_text()
    assert survivor.returncode == 0, log[-3000:]
    assert case.key_prefix not in log and case.management_key not in log  # never a key in a log line
    problems = wait_until_recovered(rotation.id, case, at_kill.next_generation, timeout=5)
    assert not problems, problems
    assert row(rotation.id).lease_owner is None
