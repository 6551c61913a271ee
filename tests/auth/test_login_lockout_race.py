"""Parallel wrong guesses cannot get past the lockout (issue 10 B5): each attempt reserves its place in the
failure counter with one conditional UPDATE before its hash check, so at most `lockoutThreshold` checks run."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.auth import client_secrets
from tests.factories import login, make_machine

LOCKED = "This identity auth method is temporarily locked, please try again later"


@pytest.fixture
def slow_hash_checks(monkeypatch) -> list[str]:
    """Count every hash check, and make each take 50 ms so that parallel attempts overlap."""
    calls: list[str] = []
    lock = threading.Lock()
    verify = client_secrets.verify

    def slow(stored_hash: str, candidate: str) -> bool:
        with lock:
            calls.append(candidate)
        time.sleep(0.05)
        return verify(stored_hash, candidate)

    monkeypatch.setattr(client_secrets, "verify", slow)
    return calls


def test_twenty_parallel_wrong_secrets_run_at_most_threshold_hash_checks(client, anon_client, slow_hash_checks):
    machine = make_machine(client, ua={"lockoutThreshold": 3})
    # The right prefix, so each guess is checked against the real hash rather than the dummy one.
    wrong = machine.client_secret[:4] + ("0" * 60 if machine.client_secret[4:] != "0" * 60 else "1" * 60)
    start = threading.Barrier(20)

    def guess(_n: int):
        start.wait()
        return login(anon_client, machine, secret=wrong)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(guess, range(20)))

    assert len(slow_hash_checks) <= 3, f"{len(slow_hash_checks)} hash checks for a threshold of 3"
    assert [a.status_code for a in answers] == [401] * 20
    messages = sorted(a.json()["message"] for a in answers)
    assert messages.count("Invalid credentials") == len(slow_hash_checks)
    assert messages.count(LOCKED) == 20 - len(slow_hash_checks)
    # The lock holds against the right secret, without a hash check.
    checks = len(slow_hash_checks)
    locked = login(anon_client, machine)
    assert (locked.status_code, locked.json()["message"]) == (401, LOCKED)
    assert len(slow_hash_checks) == checks
    # Every refusal left its audit row (each attempt commits what it recorded before it answers).
    failed = client.get("/api/v1/audit-logs", params={"eventType": "login-identity-universal-auth-failed"}).json()
    assert failed["totalCount"] == 21
