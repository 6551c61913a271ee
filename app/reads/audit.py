"""Audit entries for secret value reads, aggregated and written off the request path.

An insert per read would cost a database round trip on the hottest endpoint, and thousands of rows a
second. Reads are counted here per (caller, IP, event, secret, environment, path) and a background thread
writes one entry per group through app.store.audit.record every FLUSH_SECONDS, with `count` and
`firstReadAt` in its metadata. Trade-offs: a crash can lose the last fraction of a second of read events
(never a write's own audit entry, which other code records in its transaction), and reads within one
window share an entry.

The same batch records consumers (issue 12): an identity's read of a rotation-owned secret only replaces its
(secret, identity) entry in a dict here, and the flush upserts them through app.store.consumers in a
transaction of their own, so neither kind of row can make the other fail. Admin-token reads are not consumers.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from app import clock
from app.db import PerEngine, unit_of_work
from app.store import audit, consumers
from app.store.consumers import ConsumerRead, RotatedRead
from app.timeutil import iso

log = logging.getLogger("keyturn.audit")

FLUSH_SECONDS = 0.5
MAX_GROUPS = 100_000
MAX_CONSUMERS = 100_000
# Flushes a consumer record may fail (the database away) before it is given up; a newer read replaces it anyway.
MAX_CONSUMER_TRIES = 3

ConsumerKey = tuple[str, str]  # (secret id, identity id)


class ReadAuditWriter:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._groups: dict[tuple, list] = {}  # key -> [count, first read time]
        self._dropped = 0
        self._consumers: dict[ConsumerKey, tuple[float, RotatedRead, str | None]] = {}  # (time.time(), ...)
        self._held: dict[ConsumerKey, tuple[ConsumerRead, int]] = {}  # not written yet: (read, failed flushes)
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

    def consumed(self, *, identity_id: str, ip: str | None, read: RotatedRead) -> None:
        """An identity received a rotation-owned secret's value: keep only its latest read, in memory. The time is
        a float (a quarter of the cost of a datetime), made a datetime by the flush."""
        key = (read.secret_id, identity_id)
        if len(self._consumers) < MAX_CONSUMERS or key in self._consumers:
            self._consumers[key] = (time.time(), read, ip)

    def flush(self) -> None:
        with self._flush_lock:
            # Swap, not copy: requests keep adding to the new dicts while these are written.
            batch, self._groups = self._groups, {}
            dropped, self._dropped = self._dropped, 0
            fresh, self._consumers = self._consumers, {}
            if batch or dropped:
                self._flush_entries(list(batch.items()), dropped)
            if fresh or self._held:
                self._flush_consumers(fresh)

    def _flush_entries(self, groups: list[tuple[tuple, list]], dropped: int) -> None:
        if self._write(groups, dropped):
            return
        # One bad row must not lose the others' entries: write them one by one.
        lost = [group for group in groups if not self._write([group], 0)]
        if dropped:
            self._write([], dropped)
        log.warning("could not write %d of %d read audit entries", len(lost), len(groups))

    def _flush_consumers(self, fresh: dict[ConsumerKey, tuple[float, RotatedRead, str | None]]) -> None:
        pending = {
            key: (ConsumerRead(read, key[1], datetime.fromtimestamp(at, UTC), ip), 0)
            for key, (at, read, ip) in fresh.items()
        }
        for key, entry in self._held.items():
            pending.setdefault(key, entry)  # a read flushed earlier is older than a fresh one
        self._held = {}
        try:
            self._write_consumers([read for read, _ in pending.values()])
            return
        except IntegrityError:
            # An identity or secret deleted since its read: write the rest one by one, drop what cannot be.
            failed = {}
            for key, (read, _) in pending.items():
                try:
                    self._write_consumers([read])
                except Exception:  # noqa: BLE001 - counted and logged below; the thread must go on
                    failed[key] = (read, MAX_CONSUMER_TRIES)
        except Exception as exc:  # noqa: BLE001 - the database may be briefly away: keep them for the next flush
            log.warning("consumer records write failed: %s", type(exc).__name__)
            failed = {key: (read, tries + 1) for key, (read, tries) in pending.items()}
        self._held = {key: entry for key, entry in failed.items() if entry[1] < MAX_CONSUMER_TRIES}
        if len(self._held) < len(failed):
            log.warning("gave up %d of %d consumer records", len(failed) - len(self._held), len(pending))

    def _write_consumers(self, reads: list[ConsumerRead]) -> None:
        with unit_of_work(self.engine) as session:
            consumers.record_reads(session, reads)

    def _write(self, groups: list[tuple[tuple, list]], dropped: int) -> bool:
        try:
            with unit_of_work(self.engine) as session:
                for (actor, ip, event, project_id, resource_id, metadata), (count, first) in groups:
                    audit.record(
                        session,
                        actor=actor,
                        event=event,
                        project_id=project_id,
                        resource_type="secret",
                        resource_id=resource_id,
                        metadata={**dict(metadata), "count": count, "firstReadAt": iso(first)},
                        ip_address=ip,
                    )
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
