"""One hub per process for the project-event streams open on it (clients §7): it follows the change feed that
keeps the read cache exact, and fans what changed out to the streams.

- Changes: one task reads the read cache's stamp every WATCH_SECONDS (memory only on PostgreSQL, where NOTIFY
  moves it; on SQLite the trigger counter, read only when the shared WAL index shows a commit). When it moves,
  one query lists the secrets of the projects the streams follow, and the difference from the previous look is
  the events (app.reads.secret_changes): one database read per change per process, never one per stream.
- Pings: the same task queues `event: ping` on every stream every `events_ping_seconds`.
- Access: every `events_recheck_seconds` the callers of all streams are checked again, together, in two queries
  (app.auth.caller.recheck). If the stamp has not moved since the last check the database would answer the same,
  so only expiry is checked, in memory. A stream whose caller lost access gets an error frame and ends.
- Limits: at most `events_streams_per_caller` streams per (project, caller) in this process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from app import clock, db
from app.auth import caller, tokens
from app.auth.principal import Principal
from app.config import get_settings
from app.db import PerEngine
from app.errors import AppError, TooManyStreams, Unauthorized
from app.reads import event_access
from app.reads.cache import Stamp, cache_for
from app.reads.event_frames import PING, Registration, change_frame, error_frame
from app.reads.secret_changes import Places, SecretChange, SecretPlace, changes, load_places
from app.timeutil import utcnow

log = logging.getLogger("keyturn.events")

WATCH_SECONDS = 0.05
END = b""  # queued after a stream's last frame


class Stream:
    """One open subscription: what it follows, its caller as last checked, and its frames waiting to be sent."""

    def __init__(self, principal: Principal, project_id: str, registrations: list[Registration], request_id: str):
        self.caller = principal
        self.project_id = project_id
        self.registrations = registrations
        self.request_id = request_id
        self.frames: asyncio.Queue[bytes] = asyncio.Queue()
        self.ended = False

    @property
    def slot(self) -> tuple[str, str]:
        return self.project_id, self.caller.actor

    def send(self, frame: bytes) -> None:
        if not self.ended:
            self.frames.put_nowait(frame)

    def end(self, error: AppError) -> None:
        """Send the error frame and close (the stream's generator stops at END)."""
        self.send(error_frame(error, self.request_id))
        self.send(END)
        self.ended = True

    def wants(self, change: SecretChange) -> bool:
        """Whether a change is one this stream registered for and its caller may read."""
        registered = any(r.matches(change.event, change.place) for r in self.registrations)
        return registered and event_access.may_read(self.caller, self.project_id, change.place)


class EventHub:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._cache = cache_for(engine)
        self._streams: set[Stream] = set()
        self._slots: Counter[tuple[str, str]] = Counter()
        self._places: dict[str, Places] = {}
        self._seen: Stamp | None = None  # the stamp of the last look
        self._checked: Stamp | None = None  # the stamp of the last access check
        self._look_lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    # --- streams ---------------------------------------------------------------------------------

    def reserve(self, principal: Principal, project_id: str, registrations: list[Registration], request_id: str):
        """A new stream, counted against its caller's limit in the project (429 past it); not yet fed."""
        limit = get_settings().events_streams_per_caller
        stream = Stream(principal, project_id, registrations, request_id)
        if self._slots[stream.slot] >= limit:
            raise TooManyStreams(
                f"Too many active connections for project {project_id}. "
                "Please close some connections before opening a new one."
            )
        self._slots[stream.slot] += 1
        self._streams.add(stream)
        return stream

    async def start(self, stream: Stream, checked: Principal) -> None:
        """Feed a reserved stream, its caller as just checked: once its project has a baseline, the next change
        is an event."""
        stream.caller = checked
        if stream.project_id not in self._places:
            await self._look()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="keyturn-events")
        stream.send(PING)

    def release(self, stream: Stream) -> None:
        """Forget a stream (its connection closed, or it ended); its slot is free at once."""
        if stream not in self._streams:
            return
        stream.ended = True
        self._streams.discard(stream)
        self._slots[stream.slot] -= 1
        if self._slots[stream.slot] <= 0:
            del self._slots[stream.slot]
        if not any(s.project_id == stream.project_id for s in self._streams):
            self._places.pop(stream.project_id, None)

    def _open(self) -> list[Stream]:
        return [s for s in self._streams if not s.ended]

    # --- the task --------------------------------------------------------------------------------

    async def _run(self) -> None:
        settings = get_settings()
        next_ping = time.monotonic() + settings.events_ping_seconds
        next_check = time.monotonic() + settings.events_recheck_seconds
        try:
            while self._streams:
                await asyncio.sleep(WATCH_SECONDS)
                try:
                    stamp = self._cache.stamp()
                    if stamp is not None and stamp != self._seen:
                        await self._look()
                    now = time.monotonic()
                    if now >= next_ping:
                        next_ping = now + settings.events_ping_seconds
                        for stream in self._open():
                            stream.send(PING)
                    if now >= next_check:
                        await self._recheck()
                        next_check = time.monotonic() + settings.events_recheck_seconds
                except Exception:  # a database blip must not end every stream; the next tick retries
                    log.exception("project events: watching for changes failed")
        finally:
            self._task = None

    async def _look(self) -> None:
        """List the followed projects' secrets; what differs from the previous look goes out as events."""
        async with self._look_lock:
            stamp = self._cache.stamp()  # before the read: a change landing during it moves the stamp again
            projects = {s.project_id for s in self._streams}
            looked = await run_in_threadpool(_load, projects)
            at = utcnow()
            for project_id, after in looked.items():
                before = self._places.get(project_id)
                if before is not None and (found := changes(before, after)):
                    self._publish(project_id, found, at)
                if any(s.project_id == project_id for s in self._streams):
                    self._places[project_id] = after
            self._seen = stamp

    def _publish(self, project_id: str, found: list[SecretChange], at) -> None:
        for stream in self._open():
            if stream.project_id != project_id:
                continue
            by_event: dict[str, list[SecretPlace]] = {}
            for change in found:
                if stream.wants(change):
                    by_event.setdefault(change.event, []).append(change.place)
            for event, places in by_event.items():
                stream.send(change_frame(event, places, at))

    async def _recheck(self) -> None:
        stamp = self._cache.stamp()
        streams = self._open()
        if stamp is not None and stamp == self._checked:
            now = clock.now()
            for stream in streams:
                if stream.caller.expires_at is not None and now >= stream.caller.expires_at:
                    stream.end(Unauthorized(tokens.EXPIRED))
            return
        fresh = await run_in_threadpool(caller.recheck, [s.caller for s in streams])
        for stream, now_caller in zip(streams, fresh, strict=True):
            if isinstance(now_caller, AppError):
                stream.end(now_caller)
            elif (refused := event_access.denial(now_caller, stream.project_id, stream.registrations)) is not None:
                stream.end(refused)
            else:
                stream.caller = now_caller
        self._checked = stamp

    def close(self) -> None:
        """End every stream (the engine is being replaced, as between tests)."""
        for stream in self._open():
            stream.send(END)
        self._streams.clear()
        self._slots.clear()
        self._places.clear()
        if self._task is not None:
            self._task.cancel()


_hubs: PerEngine[EventHub] = PerEngine(EventHub)


def hub_for(engine: Engine) -> EventHub:
    """This process's hub for its engine."""
    return _hubs.get(engine)


def _load(project_ids: Collection[str]) -> dict[str, Places]:
    with db.unit_of_work() as session:
        return load_places(session, project_ids)
