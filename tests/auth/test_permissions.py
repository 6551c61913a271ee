"""The permission decision (identity §8–§9), table-driven over roles, subjects and scope."""

from __future__ import annotations

import pytest

from app.auth.caller import Caller
from app.auth.permissions import can, require, require_admin
from app.auth.principal import ADMIN, Grant, Principal
from app.errors import PermissionDenied
from tests.factories import MATRIX, ROLES

P = "project-1"
PROD_OPENROUTER = {"environments": ("prod",), "secret_paths": ("/openrouter/**",)}


def identity(roles, scope=None, project=P, org_admin=False) -> Caller:
    grants = {project: Grant(project_id=project, roles=frozenset(roles), **(scope or {}))} if roles is not None else {}
    return Caller(identity_id="id-1", token_id="t-1", org_admin=org_admin, grants=grants)


TARGET = {"environment": "prod", "secretPath": "/openrouter", "connectionId": "c-1"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("subject", "action"), sorted(MATRIX))
def test_role_matrix(role, subject, action):
    assert can(identity([role]), action, subject, project_id=P, **TARGET) is (role in MATRIX[(subject, action)])
    assert can(ADMIN, action, subject, project_id=P, **TARGET)


@pytest.mark.parametrize(("subject", "action"), sorted(MATRIX))
def test_roles_combine(subject, action):
    assert can(identity(["viewer", "member"]), action, subject, project_id=P, **TARGET) is bool(
        MATRIX[(subject, action)] & {"viewer", "member"}
    )


def test_org_admin_identity_is_admin():
    principal = identity(None, org_admin=True)
    assert principal.is_admin and principal.actor == "identity:id-1"
    assert can(principal, "create", "identity")
    require_admin(principal)


def test_management_plane_refused_to_identities():
    with pytest.raises(PermissionDenied) as exc:
        require(identity(["admin"]), "create", "identity")
    assert exc.value.message == "You are not allowed to create on identity: only the admin token may do this"
    assert exc.value.details == [{"action": "create", "subject": "identity", "conditions": {}}]
    # An organisation-scoped connection has no project: admin token only.
    assert not can(identity(["admin"]), "read", "app-connections", project_id=None, connectionId="c")
    assert not can(identity(["admin"]), "edit", "project", project_id=P)
    with pytest.raises(PermissionDenied) as exc:
        require_admin(identity(["admin"]), "read", "audit-logs")
    assert exc.value.message == "You are not allowed to read on audit-logs: only the admin token may do this"


def test_not_a_member():
    with pytest.raises(PermissionDenied) as exc:
        require(identity(["admin"], project="other"), "read", "project", project_id=P)
    assert exc.value.message == "You are not allowed to read on project: the identity is not a member of this project"


def test_role_messages():
    with pytest.raises(PermissionDenied) as exc:
        require(identity(["viewer"]), "rotate-secrets", "secret-rotation", project_id=P, **TARGET)
    assert exc.value.message == (
        "You are not allowed to rotate-secrets on secret-rotation in environment 'prod' "
        "at path '/openrouter': role 'viewer' does not include this action"
    )
    with pytest.raises(PermissionDenied) as exc:
        require(identity(["viewer", "member"]), "create", "secret-rotation", project_id=P, **TARGET)
    assert exc.value.message.endswith("roles 'member', 'viewer' do not include this action")
    with pytest.raises(PermissionDenied) as exc:
        require(identity(["no-access"]), "read", "project", project_id=P)
    assert exc.value.message == "You are not allowed to read on project: role 'no-access' does not include this action"


@pytest.mark.parametrize(
    ("environment", "path", "allowed"),
    [
        ("prod", "/openrouter", True),
        ("prod", "/openrouter/a/b", True),
        ("prod", "/openrouter/", True),
        ("dev", "/openrouter", False),
        ("prod", "/", False),
        ("prod", "/openrouter-old", False),
        (None, "/openrouter", False),
        ("prod", None, False),
    ],
)
def test_scope_narrows_scoped_subjects(environment, path, allowed):
    principal = identity(["viewer"], PROD_OPENROUTER)
    conditions = {k: v for k, v in {"environment": environment, "secretPath": path}.items() if v is not None}
    for subject, action in (("secrets", "readValue"), ("secret-rotation", "read")):
        assert can(principal, action, subject, project_id=P, **conditions) is allowed


def test_scope_message_and_details():
    with pytest.raises(PermissionDenied) as exc:
        require(
            identity(["viewer"], PROD_OPENROUTER),
            "readValue",
            "secrets",
            project_id=P,
            environment="dev",
            secretPath="/openrouter",
        )
    assert exc.value.message == (
        "You are not allowed to readValue on secrets in environment 'dev' at path '/openrouter': "
        "outside the membership scope (environments: prod; secretPaths: /openrouter/**)"
    )
    assert exc.value.details == [
        {"action": "readValue", "subject": "secrets", "conditions": {"environment": "dev", "secretPath": "/openrouter"}}
    ]


def test_scope_with_environments_only():
    principal = identity(["member"], {"environments": ("prod", "staging")})
    assert can(principal, "readValue", "secrets", project_id=P, environment="staging", secretPath="/any/where")
    with pytest.raises(PermissionDenied) as exc:
        require(principal, "readValue", "secrets", project_id=P, environment="dev", secretPath="/")
    assert exc.value.message.endswith("outside the membership scope (environments: prod, staging)")


def test_scope_does_not_narrow_project_or_connection_use():
    principal = identity(["admin"], PROD_OPENROUTER)
    assert can(principal, "read", "project", project_id=P)
    assert can(principal, "connect", "app-connections", project_id=P, connectionId="c-1")
    assert can(principal, "read", "app-connections", project_id=P, connectionId="c-1")
    assert can(principal, "create", "secret-rotation", project_id=P, environment="prod", secretPath="/openrouter")
    for action in ("create", "edit", "delete"):
        with pytest.raises(PermissionDenied) as exc:
            require(principal, action, "app-connections", project_id=P, connectionId="c-1")
        assert exc.value.message.endswith(": a scoped membership cannot manage app connections")


def test_a_bare_identity_principal_cannot_answer_for_its_memberships():
    """Memberships belong to the request's Caller; a Principal (which caches share) refuses to guess them."""
    with pytest.raises(RuntimeError):
        can(Principal(identity_id="id-1"), "read", "project", project_id=P)
    assert can(ADMIN, "read", "project", project_id=P)
    assert can(Principal(identity_id="id-1", org_admin=True), "read", "project", project_id=P)
