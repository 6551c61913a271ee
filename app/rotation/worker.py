"""The rotation worker (rotation §14f): polls the database, runs due rotations, drains the revocation
queue, reconciles intents left open by runs that died, and purges dead access tokens (app.auth.token_purge).

Claiming takes the leases of a batch of due rotations in one transaction (`lease.claim_due`), so several
workers share the due rows instead of racing for the same ones; each run then goes through the engine
under the lease it was handed. At most `worker_concurrency` runs at once; while a backlog lasts, as many more
are leased ahead and wait for a slot. When a run finishes and the last claim filled what it asked for (more may
be due), the worker claims again as soon as every claimed run has a slot; otherwise it waits for the next poll,
which also drains revocations, reconciles stale intents and notes keys about to expire.
A thread of its own sends webhooks (app.webhooks.sender), so a slow receiver never holds up a rotation.
Nothing lives only in memory: a killed worker loses no work, its leases lapse and the rows are picked up.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from app import db
from app.auth.token_purge import purge_dead_tokens
from app.config import Settings
from app.rotation import engine, expiry_notices, lease, reconcile, revocations
from app.store import worker_heartbeats
from app.timeutil import utcnow
from app.webhooks import sender as webhook_sender
from app.webhooks.delivery import TIMEOUT_SECONDS as WEBHOOK_TIMEOUT_SECONDS

log = logging.getLogger("keyturn.worker")


def new_worker_id() -> str:
    """Says where the worker runs; the suffix tells apart processes that reuse a pid (pid 1 in every container)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by a finished run when more work may be due, and by request_stop
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=settings.worker_concurrency, thread_name_prefix="keyturn-rotate")
        self._running: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._more_due = False  # the last claim filled every slot it asked for
        self._failed: set[str] = set()  # runs that raised: not claimed again before the next poll
        self.worker_id = new_worker_id()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="keyturn-worker", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop claiming at once; claimed runs not yet started release their leases, runs in flight finish
        (and release theirs) before run() returns."""
        self._stop.set()
        self._wake.set()

    def stop(self) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.lease_seconds + 4 * self.settings.http_timeout_seconds)

    def run(self) -> None:
        poll = self.settings.worker_poll_seconds
        log.info("worker started (poll every %ss, up to %s rotations at once)", poll, self.settings.worker_concurrency)
        next_poll = time.monotonic()
        webhooks = threading.Thread(target=self._send_webhooks, name="keyturn-webhooks", daemon=True)
        webhooks.start()
        beats = threading.Thread(target=self._beat_until_stopped, name="keyturn-worker-heartbeat", daemon=True)
        beats.start()
        try:
            while not self._stop.is_set():
                self._wake.clear()  # before claiming, so a run that ends meanwhile still wakes the wait below
                if time.monotonic() >= next_poll:
                    self.tick()
                    next_poll = time.monotonic() + poll
                else:
                    self._step(self._claim_due)
                self._wake.wait(max(0.0, next_poll - time.monotonic()))
        finally:
            self._pool.shutdown(wait=True)
            webhooks.join(timeout=2 * WEBHOOK_TIMEOUT_SECONDS)  # a post in flight ends by its timeout
            beats.join()
            self._step(self._forget)
            log.info("worker stopped")

    # --- heartbeat -------------------------------------------------------------------------------

    def _beat_until_stopped(self) -> None:
        """Beat every poll interval in a thread of its own: a long revocation drain in the loop must not make the
        worker look dead (readiness allows three intervals)."""
        while not self._stop.is_set():
            self._step(self._beat)
            self._stop.wait(self.settings.worker_poll_seconds)

    def _beat(self) -> None:
        with db.unit_of_work() as session:
            worker_heartbeats.beat(session, self.worker_id)

    def _forget(self) -> None:
        with db.unit_of_work() as session:
            worker_heartbeats.forget(session, self.worker_id)

    # --- one poll --------------------------------------------------------------------------------

    def tick(self) -> None:
        """One pass over the kinds of work; a failure in one does not stop the others."""
        with self._lock:
            self._failed.clear()
        for step in (
            self._claim_due,
            self._drain_revocations,
            self._reconcile_intents,
            self._purge_tokens,
            self._note_expiring,
        ):
            if self._stop.is_set():
                return
            self._step(step)

    def _step(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception:  # a database blip must not kill the loop
            log.exception("worker step %s failed", step.__name__)

    def _claim_due(self) -> None:
        with self._lock:
            self._running = {rid: f for rid, f in self._running.items() if not f.done()}
            slots = self.settings.worker_concurrency
            if len(self._running) > slots or self._stop.is_set():
                return  # claimed runs still wait for a slot: the next claim comes once each has one
            # Under a backlog (the last claim filled what it asked for), one batch more is leased ahead and queued
            # behind the runs, so a finished run's slot is refilled without a claim: one claim per batch, not per
            # run (a claim was a fifth of a busy worker's CPU). A queued run whose lease lapses meanwhile re-takes
            # it if it is still free (engine.rotate), or leaves it to the worker that took it.
            wanted = slots + (slots if self._more_due else 0) - len(self._running)
            if wanted <= 0:
                return
            owner, claimed = lease.claim_due(wanted, exclude=set(self._running) | self._failed)
            self._more_due = len(claimed) == wanted
            for rotation_id in claimed:
                if self._stop.is_set():
                    lease.release(rotation_id, owner)
                    continue
                future = self._pool.submit(self._run_rotation, rotation_id, owner)
                self._running[rotation_id] = future
                future.add_done_callback(self._on_run_done)

    def _on_run_done(self, _future: Future) -> None:
        if self._more_due:
            self._wake.set()

    def _run_rotation(self, rotation_id: str, owner: str) -> None:
        started = False
        try:
            if self._stop.is_set():
                return  # claimed but not started: the finally gives the lease back
            job_id = f"keyturn-rotate-{rotation_id}-{int(utcnow().timestamp())}"
            started = True
            rotation = engine.rotate(rotation_id, manual=False, job_id=job_id, lease_owner=owner)
            log.info("scheduled run of rotation %s: %s", rotation_id, rotation.rotation_status)
        except Exception:  # recorded on the row where possible; the next poll tries again
            started = False  # the engine may have failed before it took the lease over: give it back here
            with self._lock:
                self._failed.add(rotation_id)
            log.exception("scheduled run of rotation %s failed", rotation_id)
        finally:
            if not started:
                lease.release(rotation_id, owner)  # a run the engine finished has given its lease back itself

    def _drain_revocations(self) -> None:
        revoked = revocations.drain()
        if revoked:
            log.info("revoked %s queued key(s)", revoked)

    def _reconcile_intents(self) -> None:
        closed = reconcile.reconcile_abandoned()
        if closed:
            log.info("reconciled %s stale intent(s)", closed)

    def _purge_tokens(self) -> None:
        purged = purge_dead_tokens()
        if purged:
            log.info("purged %s revoked or expired access token(s)", purged)

    def _note_expiring(self) -> None:
        noted = expiry_notices.note_expiring()
        if noted:
            log.info("%s active key(s) expire within one interval", noted)

    def _send_webhooks(self) -> None:
        """Until stopped: send due deliveries, at once again while each claim comes back full, else every poll."""
        sender = webhook_sender.Sender(self.settings)
        try:
            while not self._stop.is_set():
                full = False
                try:
                    full = sender.run_once() == webhook_sender.BATCH
                except Exception:  # a database blip must not kill the loop
                    log.exception("webhook sender failed")
                if not full:
                    self._stop.wait(self.settings.worker_poll_seconds)
        finally:
            sender.close()
