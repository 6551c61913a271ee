"""Project events as the route calls them (clients §7): open a stream after the checks of clients §7.2, then its frames.

Checks, in Infisical's order after authentication and body validation: the caller's stream limit in the project
(429), the project (404), and permission to read secrets where every registration points (403). The stream then
sends `event: ping` at once and its events and pings as the hub queues them, until the client goes away or the
caller loses access (an error frame, then the end).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from app import db
from app.auth import caller
from app.auth.principal import Principal
from app.errors import NotFound
from app.logcontext import current_request_id
from app.models import Project
from app.reads import event_access
from app.reads.event_frames import Registration
from app.reads.event_hub import END, Stream, hub_for


def _checked(principal: Principal, project_id: str, registrations: list[Registration]) -> Principal:
    """The caller with its memberships as they are now, once the project exists and it may follow everything."""
    with db.unit_of_work() as session:
        if session.get(Project, project_id) is None:
            raise NotFound(f"Project with ID '{project_id}' not found")
    request_caller = caller.for_request(principal)
    refused = event_access.denial(request_caller, project_id, registrations)
    if refused is not None:
        raise refused
    return request_caller


async def subscribe(principal: Principal, project_id: str, registrations: list[Registration]) -> Stream:
    hub = hub_for(db.engine())
    stream = hub.reserve(principal, project_id, registrations, current_request_id())
    try:
        checked = await run_in_threadpool(_checked, principal, project_id, registrations)
        await hub.start(stream, checked)
    except BaseException:
        hub.release(stream)
        raise
    return stream


async def frames(stream: Stream) -> AsyncIterator[bytes]:
    """The stream's frames until it ends; its slot is freed however it stops (a client gone cancels this)."""
    hub = hub_for(db.engine())
    try:
        while (frame := await stream.frames.get()) != END:
            yield frame
    finally:
        hub.release(stream)
