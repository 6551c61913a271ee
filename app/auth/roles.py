"""The built-in project roles and what each may do (identity §8.1–§8.2)."""

from __future__ import annotations

ROLES = ("admin", "member", "viewer", "no-access")

# Subjects whose targets carry an environment and a secret path, so a membership scope narrows them.
SCOPED_SUBJECTS = frozenset({"secrets", "secret-rotation"})

_READ_ONLY = {("project", "read"), ("environments", "read")}
_SECRET_READS = {("secrets", "describeSecret"), ("secrets", "readValue")}

ROLE_PERMISSIONS: dict[str, frozenset[tuple[str, str]]] = {
    "admin": frozenset(
        _READ_ONLY
        | _SECRET_READS
        | {("secrets", a) for a in ("create", "edit", "delete")}
        | {
            ("secret-rotation", a)
            for a in ("read", "rotate-secrets", "read-generated-credentials", "create", "edit", "delete")
        }
        # keyturn's emergency rotation (rotation §14l): rotate-now that also revokes every earlier key at once.
        | {("secret-rotation", "revoke-superseded")}
        | {("app-connections", a) for a in ("read", "connect", "create", "edit", "delete")}
    ),
    "member": frozenset(
        _READ_ONLY | _SECRET_READS | {("secret-rotation", "read"), ("secret-rotation", "rotate-secrets")}
    ),
    "viewer": frozenset(_READ_ONLY | _SECRET_READS | {("secret-rotation", "read")}),
    "no-access": frozenset(),
}

# Project-plane permissions: anything a project role could ever hold. Anything else is management plane.
PROJECT_PLANE = ROLE_PERMISSIONS["admin"]

# Names call sites may use for the same permission.
ACTION_ALIASES = {("secrets", "read"): "describeSecret"}

# Connection management is refused to scoped memberships: a connection serves every environment and path.
CONNECTION_MANAGEMENT = frozenset({("app-connections", a) for a in ("create", "edit", "delete")})


def canonical_action(subject: str, action: str) -> str:
    return ACTION_ALIASES.get((subject, action), action)
