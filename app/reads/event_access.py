"""Who may follow which project events: the rules of a secret read (identity §8), applied to a subscription when
it opens and whenever its caller is checked again, and to every change before a stream hears of it."""

from __future__ import annotations

from app.auth.permissions import refusal
from app.auth.principal import Principal
from app.errors import PermissionDenied
from app.reads.event_frames import Registration
from app.reads.secret_changes import SecretPlace

SUBJECT = "secrets"
ACTION = "readValue"


def may_read(principal: Principal, project_id: str, place: SecretPlace) -> bool:
    """Whether a change to this secret may be told to the caller: a read of it would be allowed."""
    reason = refusal(
        principal, ACTION, SUBJECT, project_id=project_id, environment=place.environment, secretPath=place.secret_path
    )
    return reason is None


def _refusal(principal: Principal, project_id: str, registration: Registration) -> str | None:
    """Why the caller may not follow this registration, or None. The caller must be allowed to read secrets in its
    environment at the glob's base folder, or at the glob itself taken as a path (so a scope of `/a/*` admits a
    registration of `/a/*`). Either way each change is still checked on its own before it is sent (`may_read`)."""
    conditions = {"environment": registration.environment}
    reason = refusal(principal, ACTION, SUBJECT, project_id=project_id, **conditions, secretPath=registration.base_path)
    if reason is None or registration.environment is None:
        return reason
    if refusal(principal, ACTION, SUBJECT, project_id=project_id, **conditions, secretPath=registration.secret_path):
        return reason
    return None


def denial(principal: Principal, project_id: str, registrations: list[Registration]) -> PermissionDenied | None:
    """The 403 for the first registration the caller may not follow (clients §7.2), or None when it may follow all."""
    for registration in registrations:
        reason = _refusal(principal, project_id, registration)
        if reason is not None:
            return PermissionDenied(
                f"You are not allowed to subscribe on secret-events: {reason}",
                details={
                    "action": registration.event,
                    "environmentSlug": registration.environment,
                    "secretPath": registration.secret_path,
                },
            )
    return None
