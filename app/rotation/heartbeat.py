"""Keeping a lease while work runs: one thread per process renews every lease its runs hold, and `held` holds
a rotation's lease for a block of work (update, delete), waiting a little for a running rotation.

A crashed holder's lease simply lapses; every write under a lease re-checks it (app.rotation.lease)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from app import db
from app.errors import BadRequest, NotFound
from app.models import SecretRotation
from app.rotation import lease

log = logging.getLogger("keyturn.lease")

_WAIT_STEP = 0.1


class _Renewals:
    """One thread per process renews every lease its runs hold, each every third of its length: a run does not
    start (and join) a thread of its own."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._due: dict[tuple[str, str], tuple[float, float]] = {}  # (rotation id, owner) -> (next renewal, every)
        self._thread: threading.Thread | None = None

    def add(self, rotation_id: str, owner: str) -> None:
        every = max(0.2, lease.lease_seconds() / 3)
        with self._lock:
            self._due[(rotation_id, owner)] = (time.monotonic() + every, every)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-renewals", daemon=True)
                self._thread.start()
            self._lock.notify()

    def remove(self, rotation_id: str, owner: str) -> None:
        with self._lock:
            self._due.pop((rotation_id, owner), None)

    def _next(self) -> list[tuple[str, str]]:
        """Wait until some lease is due, and return the due ones (their next renewal scheduled)."""
        with self._lock:
            while True:
                now = time.monotonic()
                due = [key for key, (at, _) in self._due.items() if at <= now]
                if due:
                    for key in due:
                        self._due[key] = (now + self._due[key][1], self._due[key][1])
                    return due
                soonest = min((at for at, _ in self._due.values()), default=None)
                self._lock.wait(None if soonest is None else soonest - now)

    def _run(self) -> None:
        while True:
            for rotation_id, owner in self._next():
                try:
                    if not lease.renew(rotation_id, owner):
                        with self._lock:
                            held = self._due.pop((rotation_id, owner), None)
                        if held is not None:  # else the run gave the lease back as it ended
                            log.warning("lost the lease of rotation %s", rotation_id)
                except Exception:  # keep trying; the publish step re-checks the lease anyway
                    log.warning("could not renew the lease of rotation %s", rotation_id, exc_info=True)


_renewals = _Renewals()


class Heartbeat:
    """Keeps a lease renewed (every third of its length) for the `with` block. A lost lease needs no flag here:
    every write made under the lease starts with `extend`, which refuses once the lease is gone."""

    def __init__(self, rotation_id: str, owner: str):
        self.rotation_id = rotation_id
        self.owner = owner

    def __enter__(self) -> Heartbeat:
        _renewals.add(self.rotation_id, self.owner)
        return self

    def __exit__(self, *exc: object) -> None:
        _renewals.remove(self.rotation_id, self.owner)


def _exists(rotation_id: str) -> bool:
    with db.unit_of_work() as session:
        return session.get(SecretRotation, rotation_id) is not None


@contextmanager
def held(rotation_id: str, owner: str | None = None, wait: float = 0) -> Iterator[str]:
    """Hold the rotation's lease for the block (renewed by a heartbeat), waiting up to `wait` seconds.

    Raises BadRequest when someone else holds it, NotFound when the rotation does not exist."""
    deadline = time.monotonic() + wait
    while True:
        token = lease.acquire(rotation_id, owner)
        if token is not None:
            break
        if not _exists(rotation_id):
            raise NotFound(f'Could not find Secret Rotation with ID "{rotation_id}"')
        if time.monotonic() >= deadline:
            raise BadRequest(lease.BUSY_MESSAGE)
        time.sleep(_WAIT_STEP)
    try:
        with Heartbeat(rotation_id, token):
            yield token
    finally:
        lease.release(rotation_id, token)
