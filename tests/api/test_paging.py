"""Every list is bounded in its SQL (issue 10, B12): `offset`/`limit` where Infisical pages (memberships), the
same as a keyturn extension on identities, a hard cap of 1000 rows in a stable order elsewhere, and 422 in
Infisical's shape for paging values that are negative, not integers or over the cap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from app import db
from app.models import Project
from app.timeutil import utcnow
from tests.factories import as_identity, create_identity, grant, post_rotation

CAP = 1000


@pytest.fixture
def statements(app) -> Iterator[list[str]]:
    """The SQL the app sends while the test runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        seen.append(" ".join(statement.split()))

    engine = db.engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _listings(statements: list[str], table: str) -> list[str]:
    """The statements that read rows of `table` other than by id: its lists (counts left out)."""
    reads = re.compile(rf"^SELECT .* FROM {table}\b")
    by_id = re.compile(rf"WHERE {table}\.id = ")
    return [s for s in statements if reads.search(s) and "count(" not in s.lower() and not by_id.search(s)]


def _sent_while(statements: list[str], request) -> list[str]:
    statements.clear()
    response = request()
    assert response.status_code == 200, response.text
    return list(statements)


def _lists(client, project, connection) -> dict[str, tuple[str, dict]]:
    pid = project["id"]
    return {
        "identities": ("identity", {"url": "/api/v1/identities"}),
        "projects": ("project", {"url": "/api/v1/projects"}),
        "memberships": (
            "identity_membership",
            {"url": f"/api/v1/projects/{pid}/memberships/identities", "params": {"roles": "viewer"}},
        ),
        "connections": ("app_connection", {"url": "/api/v1/app-connections", "params": {"projectId": pid}}),
        "open-router connections": (
            "app_connection",
            {"url": "/api/v1/app-connections/open-router", "params": {"projectId": pid}},
        ),
        "available connections": (
            "app_connection",
            {"url": "/api/v1/app-connections/open-router/available", "params": {"projectId": pid}},
        ),
        "rotations": ("secret_rotation", {"url": "/api/v2/secret-rotations", "params": {"projectId": pid}}),
        "open-router rotations": (
            "secret_rotation",
            {"url": "/api/v2/secret-rotations/open-router-api-key", "params": {"projectId": pid}},
        ),
        "audit log": ("audit_log", {"url": "/api/v1/audit-logs"}),
    }


LISTS = [
    "identities",
    "projects",
    "memberships",
    "connections",
    "open-router connections",
    "available connections",
    "rotations",
    "open-router rotations",
    "audit log",
]


@pytest.mark.parametrize("name", LISTS)
def test_every_list_is_cut_in_its_sql(client, project, connection, statements, name):
    grant(client, project["id"], create_identity(client, "viewer-1"), "viewer")
    post_rotation(client, project, connection)
    table, request = _lists(client, project, connection)[name]
    listings = _listings(
        _sent_while(statements, lambda: client.get(request["url"], params=request.get("params"))), table
    )
    assert listings, f"no query listed {table}"
    for statement in listings:
        assert " LIMIT " in statement, statement


def test_memberships_filter_by_role_and_page_in_sql(client, project):
    roles = {"alpha": ["viewer"], "beta": ["member"], "gamma": ["member", "viewer"], "delta": ["viewer"]}
    for name, held in roles.items():
        grant(client, project["id"], create_identity(client, name), held)
    url = f"/api/v1/projects/{project['id']}/memberships/identities"

    def names(**params) -> tuple[list[str], int]:
        body = client.get(url, params=params).json()
        return [m["identity"]["name"] for m in body["identityMemberships"]], body["totalCount"]

    assert names(roles="viewer") == (["alpha", "delta", "gamma"], 3)
    assert names(roles="viewer", offset=1, limit=1) == (["delta"], 3)
    assert names(roles="viewer", offset=3) == ([], 3)
    assert names(roles="member,admin") == (["beta", "gamma"], 2)
    assert names(roles="admin") == ([], 0)
    assert names(identityName="A", roles="viewer", limit=2) == (["alpha", "delta"], 3)
    assert names() == (["alpha", "beta", "delta", "gamma"], 4)


def test_identities_page_with_offset_and_limit_and_count_them_all(client):
    for name in ("carol", "alice", "bob"):
        create_identity(client, name)

    def names(**params) -> tuple[list[str], int]:
        body = client.get("/api/v1/identities", params=params).json()
        return [i["identity"]["name"] for i in body["identities"]], body["totalCount"]

    assert names() == (["alice", "bob", "carol"], 3)
    assert names(limit=2) == (["alice", "bob"], 3)
    assert names(offset=2, limit=2) == (["carol"], 3)
    assert names(offset=5) == ([], 3)


PAGED = ["/api/v1/identities", "/api/v1/projects/{project}/memberships/identities", "/api/v1/audit-logs"]
BAD_PAGING = [
    {"offset": -1},
    {"offset": "1.5"},
    {"offset": "abc"},
    {"offset": "\u00b2"},
    {"offset": ""},
    {"offset": 2**63},
    {"limit": 0},
    {"limit": -1},
    {"limit": CAP + 1},
    {"limit": 2**63},
    {"limit": "ten"},
]


@pytest.mark.parametrize("url", PAGED)
def test_paging_values_out_of_range_or_not_integers_are_422(client, project, url):
    url = url.format(project=project["id"])
    for params in BAD_PAGING:
        response = client.get(url, params=params)
        assert response.status_code == 422, (params, response.text)
        body = response.json()
        assert body["error"] == "ValidationFailure" and body["statusCode"] == 422, body
        assert body["reqId"].startswith("req-"), body
        assert [issue["path"] for issue in body["message"]] == [list(params)], body
    assert client.get(url, params={"offset": 2**63 - 1, "limit": CAP}).status_code == 200


def _insert_projects(count: int) -> list[str]:
    """`count` projects, one second apart in creation, oldest first."""
    start = utcnow() - timedelta(days=1)
    rows = [
        Project(name=f"p{i}", slug=f"bulk-{i:05d}", created_at=start + timedelta(seconds=i), updated_at=start)
        for i in range(count)
    ]
    with db.unit_of_work() as session:
        session.add_all(rows)
    return [row.id for row in rows]


def test_projects_stop_at_the_cap_in_creation_order_yet_an_identity_sees_its_own(client, anon_client):
    ids = _insert_projects(CAP + 1)
    listed = client.get("/api/v1/projects").json()["projects"]
    assert [p["id"] for p in listed] == ids[:CAP]

    newest = {"id": ids[-1]}
    headers = as_identity(client, newest, "viewer")
    mine = anon_client.get("/api/v1/projects", headers=headers).json()["projects"]
    assert [p["id"] for p in mine] == [ids[-1]]
