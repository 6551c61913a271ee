"""Audit rows about a rotation, written in the caller's transaction (never a key or a failure message)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.auth.principal import Principal
from app.models import SecretRotation
from app.store import audit

PLATFORM = "platform"  # the actor of scheduled rotations
ROTATE_EVENT = "secret-rotation-rotate-secrets"
# Infisical names no check-credentials audit event for certain (rotation §3.2); this one follows its pattern.
CHECK_EVENT = "check-secret-rotation-credentials"


def record(session: Session, actor: Principal | str, event: str, rotation: SecretRotation, **metadata: Any) -> None:
    audit.write(
        session,
        actor=actor,
        event=event,
        project_id=rotation.project_id,
        resource_type="secret-rotation",
        resource_id=rotation.id,
        metadata={"name": rotation.name, "type": rotation.type, **metadata},
    )
