"""Project events over server-sent events (clients §7): the Kubernetes operator's instant updates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from app.api.auth_body import parse_body
from app.api.deps import CurrentPrincipal
from app.reads import events
from app.reads.event_frames import Registration
from app.schemas.events import ProjectEventsSubscription

router = APIRouter(tags=["events"])

# Sent at once, before the first frame (clients §7.3); X-Accel-Buffering keeps nginx from holding frames back.
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Type": "text/event-stream",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


async def _body(request: Request) -> ProjectEventsSubscription:
    return await parse_body(request, ProjectEventsSubscription)


@router.post(
    "/api/v1/events/subscribe/project-events",
    operation_id="subscribeProjectEvents",
    response_class=StreamingResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ProjectEventsSubscription.model_json_schema()}},
        }
    },
    responses={
        200: {
            "description": "A stream of server-sent events: `ping` every 15 s, `secret-manager` for each change, "
            "and a last `error` when the caller loses access.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def subscribe_project_events(
    principal: CurrentPrincipal, body: Annotated[ProjectEventsSubscription, Depends(_body)]
) -> StreamingResponse:
    """Follow secret changes in one project, filtered by event, environment and path glob."""
    registrations = [
        Registration(r.event)
        if r.conditions is None
        else Registration(r.event, r.conditions.environmentSlug, r.conditions.secretPath)
        for r in body.registrations
    ]
    stream = await events.subscribe(principal, body.projectId, registrations)
    return StreamingResponse(events.frames(stream), headers=STREAM_HEADERS)
