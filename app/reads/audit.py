"""Audit entries for secret value reads, aggregated and written off the request path.

An insert per read would cost a database round trip on the hottest endpoint, and thousands of rows a
second. Reads are counted here per (caller, IP, event, secret, environment, path) and a background thread
writes one entry per group through app.store.audit.record every FLUSH_SECONDS, with `count` and
`firstReadAt` in its metadata. Trade-offs: a crash can lose the last fraction of a second of read events
(never a write's own audit entry, which other code records in its transaction), and reads within one
window share an entry.
"""

from __future__ import annotations

import atexit
import logging
import threading

from sqlalchemy.engine import Engine

from app import clock
from app.db import PerEngine, unit_of_work
from app.store import audit
from app.timeutil import iso

log = logging.getLogger("keyturn.audit")

FLUSH_SECONDS = 0.5
MAX_GROUPS = 100_000


class ReadAuditWriter:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._groups: dict[tuple, list] = {}  # key -> [count, first read time]
        self._dropped = 0
        self._wake = threading.Event()
        self._stopping = False
        self._flush_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="keyturn-read-audit", daemon=True)
        self._thread.start()

    def add(
        self,
        *,
        actor: str,
        ip: str | None,
        event: str,
        project_id: str,
        resource_id: str | None,
        metadata: tuple[tuple[str, object], ...],
    ) -> None:
        key = (actor, ip, event, project_id, resource_id, metadata)
        group = self._groups.get(key)
        if group is not None:
            group[0] += 1
        elif len(self._groups) < MAX_GROUPS:
            self._groups[key] = [1, clock.now()]
        else:
            self._dropped += 1

    def flush(self) -> None:
        with self._flush_lock:
            # Swap, not copy: requests keep adding to the new dict while this one is written.
            batch, self._groups = self._groups, {}
            dropped, self._dropped = self._dropped, 0
            if not batch and not dropped:
                return
            groups = list(batch.items())
            if self._write(groups, dropped):
                return
            # One bad row must not lose the others' entries: write them one by one.
            lost = [group for group in groups if not self._write([group], 0)]
            if dropped:
                self._write([], dropped)
            log.warning("could not write %d of %d read audit entries", len(lost), len(groups))

    def _write(self, groups: list[tuple[tuple, list]], dropped: int) -> bool:
        try:
            with unit_of_work(self.engine) as session:
                for (actor, ip, event, project_id, resource_id, metadata), (count, first) in groups:
                    entry = audit.record(
                        session,
                        actor=actor,
                        event=event,
                        project_id=project_id,
                        resource_type="secret",
                        resource_id=resource_id,
                        metadata={**dict(metadata), "count": count, "firstReadAt": iso(first)},
                    )
                    entry.ip_address = ip
                if dropped:
                    audit.record(session, actor="keyturn", event="audit-entries-dropped", metadata={"count": dropped})
        except Exception as exc:  # noqa: BLE001 - the database may be briefly away; never crash the thread
            log.warning("read audit write failed: %s", type(exc).__name__)
            return False
        return True

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self.flush()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(FLUSH_SECONDS)
            self.flush()


_writers: PerEngine[ReadAuditWriter] = PerEngine(ReadAuditWriter)


def writer_for(engine: Engine) -> ReadAuditWriter:
    return _writers.get(engine)


def flush_pending() -> None:
    """Write whatever is queued now (shutdown, tests)."""
    if _writers.current is not None:
        _writers.current.flush()


atexit.register(flush_pending)
