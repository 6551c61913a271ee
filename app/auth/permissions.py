"""The one place that decides whether a caller may do something.

Every route asks `require(principal, action, subject, **conditions)` or `can(...)`. The admin token
may do everything. Machine identities are decided by their project role and scope.
"""

from __future__ import annotations

from app.auth.principal import Principal
from app.errors import PermissionDenied


def can(principal: Principal, action: str, subject: str, *, project_id: str | None = None, **conditions) -> bool:
    if principal.is_admin:
        return True
    return False  # identities with project roles: see the identity issue


def require(principal: Principal, action: str, subject: str, *, project_id: str | None = None, **conditions) -> None:
    if not can(principal, action, subject, project_id=project_id, **conditions):
        raise PermissionDenied(
            f"You are not allowed to {action} on {subject}",
            details=[{"action": action, "subject": subject, "conditions": conditions}],
        )


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied(
            "You are not allowed to perform this action: it needs the admin token",
            details=[{"action": "manage", "subject": "organization", "conditions": {}}],
        )
