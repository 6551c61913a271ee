"""Audit rows about a rotation, written in the caller's transaction (never a key or a failure message)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlmodel import Session

from app.auth.principal import Principal
from app.models import SecretRotation
from app.store import audit

PLATFORM = "platform"  # the actor of scheduled rotations
ROTATE_EVENT = "secret-rotation-rotate-secrets"
# Infisical names no check-credentials audit event for certain (rotation §3.2); this one follows its pattern.
CHECK_EVENT = "check-secret-rotation-credentials"
# A key revoked before its time, whatever its overlap or hold said (keyturn's emergency rotation, rotation §14l).
FORCED_REVOCATION_EVENT = "secret-rotation-revocation-forced"
EMERGENCY = "emergency"

# What set off the rotation being recorded, when it is not the plain manual or scheduled run: the engine's
# rotation events (success or failure) carry it as `trigger`. Set by `triggered`, for one thread's run.
_trigger: ContextVar[str | None] = ContextVar("rotation_trigger", default=None)


@contextmanager
def triggered(trigger: str) -> Iterator[None]:
    """Every rotation event recorded in the block carries `trigger` (e.g. "emergency")."""
    token = _trigger.set(trigger)
    try:
        yield
    finally:
        _trigger.reset(token)


def trigger(*, manual: bool) -> str:
    """What set off the rotation in progress: the trigger `triggered` set, else manual or scheduled."""
    return _trigger.get() or ("manual" if manual else "scheduled")


def record(session: Session, actor: Principal | str, event: str, rotation: SecretRotation, **metadata: Any) -> None:
    trigger = _trigger.get()
    if trigger is not None and event == ROTATE_EVENT:
        metadata = {**metadata, "trigger": trigger}
    audit.record(
        session,
        actor=actor,
        event=event,
        project_id=rotation.project_id,
        resource_type="secret-rotation",
        resource_id=rotation.id,
        metadata={"name": rotation.name, "type": rotation.type, **metadata},
    )
