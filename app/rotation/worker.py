"""The rotation worker (placeholder until the rotation engine lands): a loop that can start and stop."""

from __future__ import annotations

import logging
import threading

from app.config import Settings

log = logging.getLogger("keyturn.worker")


class Worker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="keyturn-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run(self) -> None:
        log.info("worker started (poll every %ss)", self.settings.worker_poll_seconds)
        while not self._stop.wait(self.settings.worker_poll_seconds):
            pass
        log.info("worker stopped")
