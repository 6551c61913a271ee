"""The rotation worker (keyturn §14f): polls the database, runs due rotations, drains the revocation
queue and reconciles intents left open by runs that died.

Every poll: claim due rotations (each run takes the rotation's lease itself, so two workers never run
the same rotation), at most `worker_concurrency` at once; revoke what is due; reconcile stale intents.
Nothing lives only in memory: a killed worker loses no work, the next one picks it up from the rows.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import or_
from sqlmodel import Session, select

from app import db
from app.config import Settings
from app.models import SecretRotation
from app.rotation import engine, reconcile, revocations
from app.timeutil import utcnow

log = logging.getLogger("keyturn.worker")


def due_rotations(limit: int) -> list[str]:
    now = utcnow()
    statement = (
        select(SecretRotation.id)
        .where(SecretRotation.is_auto_rotation_enabled.is_(True),
               SecretRotation.next_rotation_at.is_not(None), SecretRotation.next_rotation_at <= now,
               or_(SecretRotation.retry_not_before.is_(None), SecretRotation.retry_not_before <= now),
               or_(SecretRotation.lease_owner.is_(None), SecretRotation.lease_expires_at.is_(None),
                   SecretRotation.lease_expires_at < now))
        .order_by(SecretRotation.next_rotation_at)
        .limit(limit)
    )
    with Session(db.engine()) as session:
        return list(session.exec(statement).all())


class Worker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=settings.worker_concurrency, thread_name_prefix="keyturn-rotate")
        self._running: dict[str, Future] = {}
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="keyturn-worker", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop claiming new work; runs in flight finish (and release their leases) before run() returns."""
        self._stop.set()

    def stop(self) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.lease_seconds + 4 * self.settings.http_timeout_seconds)

    def run(self) -> None:
        log.info("worker started (poll every %ss, up to %s rotations at once)", self.settings.worker_poll_seconds,
                 self.settings.worker_concurrency)
        try:
            while not self._stop.is_set():
                self.tick()
                self._stop.wait(self.settings.worker_poll_seconds)
        finally:
            self._pool.shutdown(wait=True)
            log.info("worker stopped")

    # --- one poll --------------------------------------------------------------------------------

    def tick(self) -> None:
        """One pass over the three kinds of work; a failure in one does not stop the others."""
        for step in (self._claim_due, self._drain_revocations, self._reconcile_intents):
            if self._stop.is_set():
                return
            try:
                step()
            except Exception:  # noqa: BLE001 - a database blip must not kill the loop
                log.exception("worker step %s failed", step.__name__)

    def _claim_due(self) -> None:
        with self._lock:
            self._running = {rid: f for rid, f in self._running.items() if not f.done()}
            free = self.settings.worker_concurrency - len(self._running)
            if free <= 0:
                return
            for rotation_id in due_rotations(free + len(self._running)):
                if rotation_id in self._running or len(self._running) >= self.settings.worker_concurrency:
                    continue
                if self._stop.is_set():
                    return
                self._running[rotation_id] = self._pool.submit(self._run_rotation, rotation_id)

    def _run_rotation(self, rotation_id: str) -> None:
        job_id = f"keyturn-rotate-{rotation_id}-{int(utcnow().timestamp())}"
        try:
            rotation = engine.rotate(rotation_id, manual=False, job_id=job_id)
            log.info("scheduled run of rotation %s: %s", rotation_id, rotation.rotation_status)
        except Exception:  # noqa: BLE001 - recorded on the row where possible; the next poll tries again
            log.exception("scheduled run of rotation %s failed", rotation_id)

    def _drain_revocations(self) -> None:
        revoked = revocations.drain()
        if revoked:
            log.info("revoked %s queued key(s)", revoked)

    def _reconcile_intents(self) -> None:
        closed = reconcile.reconcile_abandoned()
        if closed:
            log.info("reconciled %s stale intent(s)", closed)
