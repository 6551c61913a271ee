"""Claiming due rotations: concurrent workers (threads or processes) get disjoint rows, a freed slot is
refilled at once, and a stop request stops claiming (rotation §14f, rotation §14g)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from app import db
from app.models import Environment, SecretRotation
from app.rotation import engine, lease
from app.rotation.limits import reset_provider_limiter
from app.rotation.worker import Worker
from app.timeutil import utcnow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fast(settings):
    """Seconds-based schedule, no provider rate limit, room for two workers' calls at once."""
    settings.rotation_interval_unit = "seconds"
    settings.lease_seconds = 5
    settings.provider_rate_per_second = 0
    settings.provider_max_concurrency = 16
    reset_provider_limiter()
    yield settings
    reset_provider_limiter()


def make_due(ids: list[str]) -> None:
    with Session(db.engine()) as session:
        session.execute(
            update(SecretRotation)
            .where(SecretRotation.id.in_(ids))
            .values(next_rotation_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()


def due_rotations(project, connection, n: int) -> list[str]:
    """n OpenRouter rotations that do not fall due on their own (interval one hour), made due now."""
    with Session(db.engine()) as session:
        env_id = session.exec(
            select(Environment.id).where(Environment.project_id == project["id"], Environment.slug == "dev")
        ).one()
    ids = []
    for i in range(n):
        draft = SecretRotation(
            id=str(uuid.uuid4()),
            project_id=project["id"],
            environment_id=env_id,
            secret_path="/",
            name=f"rot-{i}",
            type="open-router-api-key",
            connection_id=connection["id"],
            parameters={"name": f"key-{i}"},
            secrets_mapping={"apiKey": f"KEY_{i}"},
            is_auto_rotation_enabled=True,
            rotation_interval=3600,
            rotate_at_hours=0,
            rotate_at_minutes=0,
        )
        ids.append(engine.create_rotation(draft, secret_name=f"KEY_{i}", recheck=lambda session: None).id)
    make_due(ids)
    return ids


def row(rotation_id: str) -> SecretRotation:
    with Session(db.engine()) as session:
        return session.get(SecretRotation, rotation_id)


def update_row(rotation_id: str, **values) -> None:
    with Session(db.engine()) as session:
        session.execute(update(SecretRotation).where(SecretRotation.id == rotation_id).values(**values))
        session.commit()


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def rotated(ids: list[str]) -> int:
    return sum(1 for rid in ids if row(rid).next_generation >= 3)


def test_claim_takes_only_due_rotations_whose_lease_is_free(client, project, connection, fast):
    ready, held, later, disabled, backing_off = due_rotations(project, connection, 5)
    update_row(later, next_rotation_at=utcnow() + timedelta(hours=1))
    update_row(disabled, is_auto_rotation_enabled=False)
    update_row(backing_off, retry_not_before=utcnow() + timedelta(hours=1))
    holder = lease.acquire(held)
    owner, claimed = lease.claim_due(10)
    assert claimed == [ready]
    assert row(ready).lease_owner == owner and row(held).lease_owner == holder
    assert lease.acquire(ready) is None  # a claimed rotation is leased like any other
    lease.release(ready, owner)
    assert lease.claim_due(10)[1] == [ready]


def test_claim_takes_the_longest_due_first_whether_its_schedule_or_its_key_expiry_made_it_due(
    client, project, connection, fast
):
    """Under a backlog a batch takes the rotations that fell due first. A paused rotation (no schedule: its
    next_rotation_at is NULL, which PostgreSQL sorts last and SQLite first) or one scheduled for later, due because
    its key expires, is not left behind the scheduled ones."""
    scheduled, paused, expiring_early, scheduled_late = due_rotations(project, connection, 4)
    now = utcnow()
    update_row(scheduled, next_rotation_at=now - timedelta(minutes=10))
    update_row(paused, is_auto_rotation_enabled=False, next_rotation_at=None, expiry_due_at=now - timedelta(hours=2))
    update_row(expiring_early, next_rotation_at=now + timedelta(days=1), expiry_due_at=now - timedelta(hours=1))
    update_row(scheduled_late, next_rotation_at=now - timedelta(minutes=5), expiry_due_at=now + timedelta(days=1))
    assert lease.claim_due(1)[1] == [paused]
    assert lease.claim_due(1)[1] == [expiring_early]
    assert lease.claim_due(1)[1] == [scheduled]
    assert lease.claim_due(1)[1] == [scheduled_late]


def test_two_concurrent_claims_get_disjoint_rotations(client, project, connection, fast):
    ids = due_rotations(project, connection, 12)
    for _ in range(5):
        start = threading.Barrier(2)
        results: list[tuple[str, list[str]]] = []

        def claim(start: threading.Barrier = start, results: list = results) -> None:
            start.wait()
            results.append(lease.claim_due(8))

        threads = [threading.Thread(target=claim) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        (_, first), (_, second) = results
        assert not set(first) & set(second)
        assert sorted(first + second) == sorted(ids)
        for owner, claimed in results:
            for rotation_id in claimed:
                lease.release(rotation_id, owner)


CLAIMER = """
import json, os, sys, time
from app import db
from app.rotation import engine, lease
db.install_engine(db.make_engine(os.environ["KEYTURN_DATABASE_URL"]))
print("ready", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.005)
taken = []
while True:
    _, ids = lease.claim_due(2)
    if not ids:
        break
    taken += ids
print(json.dumps(taken), flush=True)
"""


def test_two_processes_claim_disjoint_rotations(client, project, connection, fast, tmp_path):
    ids = due_rotations(project, connection, 20)
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    env.update(KEYTURN_DATABASE_URL=fast.database_url, KEYTURN_LEASE_SECONDS="60")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(go)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()
        outputs = [proc.communicate(timeout=30) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    first, second = (json.loads(out) for out, _ in outputs)
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(ids)


def recorded_claims(monkeypatch) -> list[tuple[int, list[str]]]:
    """Every claim the workers make from now on: (the limit asked for, the rotations claimed)."""
    claims: list[tuple[int, list[str]]] = []
    real_claim = lease.claim_due

    def recording_claim(limit, exclude=()):
        owner, claimed = real_claim(limit, exclude)
        claims.append((limit, claimed))
        return owner, claimed

    monkeypatch.setattr(lease, "claim_due", recording_claim)
    return claims


def test_two_workers_run_each_due_rotation_exactly_once(client, project, connection, openrouter, fast, monkeypatch):
    fast.worker_concurrency = 4
    fast.worker_poll_seconds = 0.2
    ids = due_rotations(project, connection, 12)
    creates_before = openrouter.create_count
    openrouter.set_latency(0.05)  # runs overlap, so both workers claim while the other holds rows
    claims = recorded_claims(monkeypatch)
    workers = [Worker(fast), Worker(fast)]
    for worker in workers:
        worker.start()
    try:
        assert wait_for(lambda: rotated(ids) == len(ids), 10)
    finally:
        for worker in workers:
            worker.stop()
    claimed = [rid for _, batch in claims for rid in batch]
    assert sorted(claimed) == sorted(ids)  # each claimed once, by one worker
    assert openrouter.create_count - creates_before == len(ids)
    assert all(row(rid).next_generation == 3 and row(rid).lease_owner is None for rid in ids)


def rotate_with_one_worker(settings, ids: list[str], timeout: float) -> None:
    worker = Worker(settings)
    worker.start()
    try:
        assert wait_for(lambda: rotated(ids) == len(ids), timeout), f"{rotated(ids)} of {len(ids)} rotated"
    finally:
        worker.stop()


def test_worker_claims_again_as_soon_as_a_slot_frees(client, project, connection, openrouter, fast):
    fast.worker_concurrency = 2
    fast.worker_poll_seconds = 30  # only the first poll falls inside the test
    ids = due_rotations(project, connection, 6)
    openrouter.set_latency(0.05)
    rotate_with_one_worker(fast, ids, timeout=5)
    assert all(row(rid).lease_owner is None for rid in ids)


def test_under_a_backlog_the_worker_claims_once_per_batch_not_once_per_run(
    client, project, connection, openrouter, fast, monkeypatch
):
    fast.worker_concurrency = 4
    fast.worker_poll_seconds = 30  # only the first poll falls inside the test: every later claim is a refill
    ids = due_rotations(project, connection, 24)
    openrouter.set_latency(0.05)
    claims = recorded_claims(monkeypatch)
    rotate_with_one_worker(fast, ids, timeout=15)
    claimed = [rid for _, batch in claims for rid in batch]
    assert sorted(claimed) == sorted(ids)  # each claimed once
    # A refill per finished run made about one claim per rotation (24); a batch leased ahead makes about one per
    # four rotations, and at most 2 x concurrency leases are held at once.
    assert len(claims) <= 10, [limit for limit, _ in claims]
    assert max(limit for limit, _ in claims) <= 2 * fast.worker_concurrency
    assert all(row(rid).lease_owner is None for rid in ids)


def test_request_stop_stops_claiming_and_leaves_no_lease(client, project, connection, openrouter, fast):
    fast.worker_concurrency = 1
    fast.worker_poll_seconds = 30
    ids = due_rotations(project, connection, 3)
    creates_before = openrouter.create_count
    openrouter.set_latency(0.5)  # the run in flight outlasts the check below by far
    worker = Worker(fast)
    worker.start()
    try:
        # Wait until the run is in flight (its intent recorded), not merely claimed: a claimed run that has
        # not started yet is given back on stop, which is another test's case.
        assert wait_for(lambda: rotated(ids) == 1, 10)
        worker.request_stop()
        worker._thread.join(10)
        assert not worker._thread.is_alive()
    finally:
        worker.stop()
    assert rotated(ids) == 1  # the run in flight finished; nothing was claimed after the stop
    assert openrouter.create_count - creates_before == 1
    assert all(row(rid).lease_owner is None for rid in ids)
