"""The one place that decides whether a caller may do something (identity §8–§9).

Every route asks `require(principal, action, subject, project_id=..., **conditions)` or `can(...)`; lists
call `can` per item and leave out what it refuses. The principal is the request's (app.auth.caller), which
carries the identity's memberships as they were when the request began. Conditions: `environment` (slug), `secretPath`,
`connectionId`. For `secrets` and `secret-rotation`, pass the target's environment and path: a scoped
membership is refused when they are missing.

Order (identity §9.3, after authentication): the admin token (or an org-admin identity) may do everything; a
management-plane permission, or no project, needs the admin; then membership, roles, scope. Resolving the
project (404) is the caller's job and comes before this check.
"""

from __future__ import annotations

from app.auth.principal import Grant, Principal
from app.auth.roles import CONNECTION_MANAGEMENT, PROJECT_PLANE, ROLE_PERMISSIONS, SCOPED_SUBJECTS, canonical_action
from app.auth.scope import normalise_path, path_matches
from app.errors import PermissionDenied

ADMIN_ONLY = "only the admin token may do this"
NOT_MEMBER = "the identity is not a member of this project"
SCOPED_CONNECTIONS = "a scoped membership cannot manage app connections"


def _roles_lack(grant: Grant) -> str:
    roles = sorted(grant.roles) or ["no-access"]
    if len(roles) == 1:
        return f"role '{roles[0]}' does not include this action"
    return "roles " + ", ".join(f"'{r}'" for r in roles) + " do not include this action"


def _outside_scope(grant: Grant) -> str:
    parts = []
    if grant.environments is not None:
        parts.append("environments: " + ", ".join(grant.environments))
    if grant.secret_paths is not None:
        parts.append("secretPaths: " + ", ".join(grant.secret_paths))
    return f"outside the membership scope ({'; '.join(parts)})"


def _in_scope(grant: Grant, environment: str | None, secret_path: str | None) -> bool:
    if grant.environments is not None and environment not in grant.environments:
        return False
    if grant.secret_paths is not None:
        if secret_path is None:
            return False
        return any(path_matches(glob, secret_path) for glob in grant.secret_paths)
    return True


def refusal(
    principal: Principal, action: str, subject: str, *, project_id: str | None = None, **conditions
) -> str | None:
    """Why the principal may not do this, or None when it may."""
    if principal.is_admin:
        return None
    permission = (subject, canonical_action(subject, action))
    if project_id is None or permission not in PROJECT_PLANE:
        return ADMIN_ONLY
    grant = principal.grant_for(project_id)
    if grant is None:
        return NOT_MEMBER
    if not any(permission in ROLE_PERMISSIONS.get(role, frozenset()) for role in grant.roles):
        return _roles_lack(grant)
    if grant.is_scoped:
        if permission in CONNECTION_MANAGEMENT:
            return SCOPED_CONNECTIONS
        if subject in SCOPED_SUBJECTS:
            path = conditions.get("secretPath")
            if not _in_scope(grant, conditions.get("environment"), normalise_path(path) if path else None):
                return _outside_scope(grant)
    return None


def can(principal: Principal, action: str, subject: str, *, project_id: str | None = None, **conditions) -> bool:
    return refusal(principal, action, subject, project_id=project_id, **conditions) is None


def _target(subject: str, conditions: dict) -> dict:
    if subject not in SCOPED_SUBJECTS:
        return {}
    return {key: conditions[key] for key in ("environment", "secretPath") if conditions.get(key) is not None}


def denial(action: str, subject: str, reason: str, conditions: dict | None = None) -> PermissionDenied:
    """The identity §9.4 error:
    `You are not allowed to <action> on <subject>[ in environment … at path …]: <reason>`."""
    target = _target(subject, conditions or {})
    where = ""
    if "environment" in target:
        where += f" in environment '{target['environment']}'"
    if "secretPath" in target:
        where += f" at path '{target['secretPath']}'"
    return PermissionDenied(
        f"You are not allowed to {action} on {subject}{where}: {reason}",
        details=[{"action": action, "subject": subject, "conditions": target}],
    )


def require(principal: Principal, action: str, subject: str, *, project_id: str | None = None, **conditions) -> None:
    reason = refusal(principal, action, subject, project_id=project_id, **conditions)
    if reason is not None:
        raise denial(action, subject, reason, conditions)


def require_admin(principal: Principal, action: str = "manage", subject: str = "organization") -> None:
    """Management plane (identity §9.1): the admin token or an org-admin identity only."""
    if not principal.is_admin:
        raise denial(action, subject, ADMIN_ONLY)
