"""The project-events subscription body (clients §7.1), as the Kubernetes operator sends it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from app.schemas.fields import RequestBody, trimmed

EventName = Literal["secret:create", "secret:update", "secret:delete", "secret:import-mutation"]
MAX_GLOB_LENGTH = 1024


def _path_glob(value: object) -> str:
    """A secret path glob: trimmed, `/` when empty, given a leading `/` when it lacks one (the operator joins
    paths itself); `*`, `?` and `**` are kept for matching (app.auth.scope)."""
    if not isinstance(value, str):
        raise ValueError("Expected string")
    value = value.strip() or "/"
    if "\x00" in value:
        raise ValueError("String must not contain NUL characters")
    if len(value) > MAX_GLOB_LENGTH:
        raise ValueError(f"String must contain at most {MAX_GLOB_LENGTH} character(s)")
    return value if value.startswith("/") else "/" + value


class EventConditions(RequestBody):
    environmentSlug: Annotated[str, trimmed(1, 64)]
    secretPath: Annotated[str, BeforeValidator(_path_glob)] = "/"


class EventRegistration(RequestBody):
    event: EventName
    conditions: EventConditions | None = None


class ProjectEventsSubscription(RequestBody):
    projectId: Annotated[str, trimmed(1, 64)]
    # `register` is a method of every pydantic model (ABCMeta's): the field takes it as its alias.
    registrations: Annotated[list[EventRegistration], Field(alias="register", min_length=1, max_length=10)]
