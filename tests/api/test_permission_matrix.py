"""Role x scope x endpoint, for every project-plane and management endpoint (identity §8–§9).

Data-driven: one world (a project, a project-scoped connection and a rotation at prod:/openrouter), one
identity per (role, scope), and a table of endpoints. Each entry names the permission it needs, whether
its target is scoped (prod:/openrouter), and whether it is a list (filtered, never refused). The expected
answer is derived from the identity §8.2 matrix (MATRIX in tests/factories.py, shared with
tests/auth/test_permissions.py), not from the code. To cover a new endpoint, add a row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.factories import MATRIX, ROLES, bearer, grant, make_machine, token_for

RT = "/api/v2/secret-rotations/open-router-api-key"
CONN = "/api/v1/app-connections/open-router"

SCOPES = {
    "unscoped": None,
    "in-scope": {"environments": ["prod"], "secretPaths": ["/openrouter/**"]},
    "out-of-scope": {"environments": ["dev"]},
}
ANY_TOKEN = "any-token"
ADMIN_ONLY = "admin-only"


@dataclass
class World:
    client: object
    openrouter: object
    project: str
    connection: str
    rotation: str
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.counter)}"

    def new_rotation(self) -> str:
        response = self.client.post(RT, json=rotation_body(self, self.unique("extra")))
        assert response.status_code == 200, response.text
        return response.json()["secretRotation"]["id"]

    def new_connection(self) -> str:
        response = self.client.post(CONN, json=connection_body(self))
        assert response.status_code == 200, response.text
        return response.json()["appConnection"]["id"]


def rotation_body(world: World, name: str) -> dict:
    return {
        "name": name,
        "projectId": world.project,
        "connectionId": world.connection,
        "environment": "prod",
        "secretPath": "/openrouter",
        "rotationInterval": 30,
        "parameters": {"name": name},
        "secretsMapping": {"apiKey": f"KEY_{name.replace('-', '_').upper()}"},
    }


def connection_body(world: World) -> dict:
    return {
        "name": world.unique("conn"),
        "method": "api-key",
        "projectId": world.project,
        "credentials": {"apiKey": world.openrouter.create_management_key()},
    }


@dataclass
class Endpoint:
    name: str
    method: str
    path: str  # formatted with project, connection, rotation
    need: tuple[str, str] | str  # a identity §8.2 permission, ANY_TOKEN or ADMIN_ONLY
    scoped: bool = False  # the target is prod:/openrouter
    listed: Callable[[dict, dict], bool] | None = None  # for lists: is the world's item in the answer?
    body: Callable[[World], dict] | None = None
    fresh: Callable[[World], dict] | None = None  # per-call targets for destructive calls
    ok: tuple[int, ...] = (200,)


def _has(key: str, target: str):
    return lambda body, ids: any(item["id"] == ids[target] for item in body[key])


ENDPOINTS = [
    # projects
    Endpoint("P3 list projects", "GET", "/api/v1/projects", ("project", "read"), listed=_has("projects", "project")),
    Endpoint("P4 get project", "GET", "/api/v1/projects/{project}", ("project", "read")),
    # rotations
    Endpoint("R1 rotation options", "GET", "/api/v2/secret-rotations/options", ANY_TOKEN),
    Endpoint(
        "R2 list rotations",
        "GET",
        "/api/v2/secret-rotations?projectId={project}",
        ("secret-rotation", "read"),
        scoped=True,
        listed=_has("secretRotations", "rotation"),
    ),
    Endpoint(
        "R3 list rotations of a type",
        "GET",
        RT + "?projectId={project}",
        ("secret-rotation", "read"),
        scoped=True,
        listed=_has("secretRotations", "rotation"),
    ),
    Endpoint("R4 get rotation", "GET", RT + "/{rotation}", ("secret-rotation", "read"), scoped=True),
    Endpoint(
        "R5 get rotation by name",
        "GET",
        RT + "/rotation-name/billing-openrouter?projectId={project}&environment=prod&secretPath=/openrouter",
        ("secret-rotation", "read"),
        scoped=True,
    ),
    Endpoint("X1 rotation history", "GET", RT + "/{rotation}/history", ("secret-rotation", "read"), scoped=True),
    Endpoint("X2 rotation consumers", "GET", RT + "/{rotation}/consumers", ("secret-rotation", "read"), scoped=True),
    Endpoint(
        "R9 generated credentials",
        "GET",
        RT + "/{rotation}/generated-credentials",
        ("secret-rotation", "read-generated-credentials"),
        scoped=True,
    ),
    Endpoint(
        "R11 check credentials",
        "POST",
        RT + "/{rotation}/check-credentials",
        ("secret-rotation", "read-generated-credentials"),
        scoped=True,
        ok=(200, 204),
    ),
    Endpoint(
        "R10 rotate now", "POST", RT + "/{rotation}/rotate-secrets", ("secret-rotation", "rotate-secrets"), scoped=True
    ),
    Endpoint(
        "R10 emergency rotation",
        "POST",
        RT + "/{rotation}/rotate-secrets",
        ("secret-rotation", "revoke-superseded"),  # and rotate-secrets, which every role holding this one holds
        scoped=True,
        body=lambda w: {"revokeSuperseded": True},
    ),
    Endpoint(
        "R7 update rotation",
        "PATCH",
        RT + "/{rotation}",
        ("secret-rotation", "edit"),
        scoped=True,
        body=lambda w: {"description": "changed"},
    ),
    Endpoint(
        "R6 create rotation",
        "POST",
        RT,
        ("secret-rotation", "create"),
        scoped=True,
        body=lambda w: rotation_body(w, w.unique("created")),
    ),
    Endpoint(
        "R8 delete rotation",
        "DELETE",
        RT + "/{rotation}",
        ("secret-rotation", "delete"),
        scoped=True,
        fresh=lambda w: {"rotation": w.new_rotation()},
    ),
    # app connections (project-scoped)
    Endpoint("C1 connection options", "GET", "/api/v1/app-connections/options", ANY_TOKEN),
    Endpoint(
        "C2 list connections",
        "GET",
        "/api/v1/app-connections?projectId={project}",
        ("app-connections", "read"),
        listed=_has("appConnections", "connection"),
    ),
    Endpoint(
        "C3 list connections of an app",
        "GET",
        CONN + "?projectId={project}",
        ("app-connections", "read"),
        listed=_has("appConnections", "connection"),
    ),
    Endpoint(
        "C4 available connections",
        "GET",
        CONN + "/available?projectId={project}",
        ("app-connections", "connect"),
        listed=_has("appConnections", "connection"),
    ),
    Endpoint("C5 get connection", "GET", CONN + "/{connection}", ("app-connections", "read")),
    Endpoint(
        "C6 get connection by name",
        "GET",
        CONN + "/connection-name/my-open-router-connection?projectId={project}",
        ("app-connections", "read"),
    ),
    Endpoint(
        "C8 update connection",
        "PATCH",
        CONN + "/{connection}",
        ("app-connections", "edit"),
        body=lambda w: {"description": "changed"},
    ),
    Endpoint("C7 create connection", "POST", CONN, ("app-connections", "create"), body=connection_body),
    Endpoint(
        "C9 delete connection",
        "DELETE",
        CONN + "/{connection}",
        ("app-connections", "delete"),
        fresh=lambda w: {"connection": w.new_connection()},
    ),
    # the consumer read API
    Endpoint(
        "read one secret",
        "GET",
        "/api/v3/secrets/raw/OPENROUTER_API_KEY?workspaceId={project}&environment=prod&secretPath=/openrouter",
        ("secrets", "readValue"),
        scoped=True,
    ),
    Endpoint(
        "list secrets",
        "GET",
        "/api/v3/secrets/raw?workspaceId={project}&environment=prod&secretPath=/openrouter",
        ("secrets", "readValue"),
        scoped=True,
    ),
    # management plane: admin token only
    Endpoint("O1 organisation", "GET", "/api/v1/organization", ADMIN_ONLY),
    Endpoint("P1 create project", "POST", "/api/v1/projects", ADMIN_ONLY, body=lambda w: {"projectName": "x"}),
    Endpoint("P5 update project", "PATCH", "/api/v1/projects/{project}", ADMIN_ONLY, body=lambda w: {"name": "x"}),
    Endpoint("P6 delete project", "DELETE", "/api/v1/projects/{project}", ADMIN_ONLY),
    Endpoint(
        "E1 create environment",
        "POST",
        "/api/v1/projects/{project}/environments",
        ADMIN_ONLY,
        body=lambda w: {"name": "QA", "slug": "qa"},
    ),
    Endpoint("I1 create identity", "POST", "/api/v1/identities", ADMIN_ONLY, body=lambda w: {"name": "x"}),
    Endpoint("I2 list identities", "GET", "/api/v1/identities", ADMIN_ONLY),
    Endpoint("M5 list memberships", "GET", "/api/v1/projects/{project}/memberships/identities", ADMIN_ONLY),
    Endpoint("audit log", "GET", "/api/v1/audit-logs", ADMIN_ONLY),
]


def expected_allowed(endpoint: Endpoint, role: str | None, scope: str) -> bool:
    if endpoint.need == ANY_TOKEN:
        return True
    if endpoint.need == ADMIN_ONLY or role is None:
        return False
    if role not in MATRIX[endpoint.need]:
        return False
    if SCOPES[scope] is not None:
        if endpoint.need[0] == "app-connections" and endpoint.need[1] in ("create", "edit", "delete"):
            return False
        if endpoint.scoped:
            return scope == "in-scope"
    return True


@pytest.fixture
def world(client, openrouter, connection) -> World:
    w = World(client, openrouter, connection["projectId"], connection["id"], "")
    response = client.post(
        RT, json={**rotation_body(w, "billing-openrouter"), "secretsMapping": {"apiKey": "OPENROUTER_API_KEY"}}
    )
    assert response.status_code == 200, response.text
    w.rotation = response.json()["secretRotation"]["id"]
    return w


def test_permission_matrix(world, anon_client):
    callers = [(role, scope) for role in ROLES for scope in SCOPES] + [(None, "unscoped")]
    tokens = {}
    for role, scope in callers:
        machine = make_machine(world.client, f"{role or 'stranger'}-{scope}")
        if role is not None:
            grant(world.client, world.project, machine.identity_id, role, scope=SCOPES[scope])
        tokens[(role, scope)] = token_for(anon_client, machine)

    mismatches = []
    for endpoint in ENDPOINTS:
        for role, scope in callers:
            ids = {"project": world.project, "connection": world.connection, "rotation": world.rotation}
            allowed = expected_allowed(endpoint, role, scope)
            if endpoint.fresh and allowed:
                ids.update(endpoint.fresh(world))
            kwargs = {"headers": bearer(tokens[(role, scope)])}
            if endpoint.body:
                kwargs["json"] = endpoint.body(world)
            response = anon_client.request(endpoint.method, endpoint.path.format(**ids), **kwargs)
            who = f"{endpoint.name} as {role or 'non-member'}/{scope}"
            if endpoint.listed is not None and (endpoint.need == ADMIN_ONLY) is False:
                if response.status_code != 200:
                    mismatches.append(f"{who}: list answered {response.status_code} {response.text[:200]}")
                elif endpoint.listed(response.json(), ids) is not allowed:
                    mismatches.append(f"{who}: item {'missing' if allowed else 'leaked'}")
            elif allowed:
                if response.status_code not in endpoint.ok:
                    mismatches.append(
                        f"{who}: expected {endpoint.ok}, got {response.status_code} {response.text[:200]}"
                    )
            else:
                body = response.json()
                if response.status_code != 403 or body.get("error") != "PermissionDenied" or not body.get("details"):
                    mismatches.append(
                        f"{who}: expected 403 PermissionDenied, got {response.status_code} {response.text[:200]}"
                    )
    assert not mismatches, "\n".join(mismatches)


def test_denials_name_the_reason(world, anon_client):
    machine = make_machine(world.client, "viewer-prod")
    grant(world.client, world.project, machine.identity_id, "viewer", scope=SCOPES["in-scope"])
    headers = bearer(token_for(anon_client, machine))
    rotate = anon_client.post(f"{RT}/{world.rotation}/rotate-secrets", headers=headers)
    assert rotate.json()["message"] == (
        "You are not allowed to rotate-secrets on secret-rotation in environment "
        "'prod' at path '/openrouter': role 'viewer' does not include this action"
    )
    identities = anon_client.get("/api/v1/identities", headers=headers)
    assert identities.json()["message"].endswith(": only the admin token may do this")
