"""The consumer read API (consumer §5–§6): fields, query quirks, errors, ETag, and a cache that never
serves what the database would no longer answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import create_engine, delete
from sqlmodel import Session, select

from app import db
from app.auth.tokens import hash_token, new_token
from app.auth.trusted_ips import ANYWHERE
from app.db import normalise_url
from app.models import AccessToken, AuditLog, Environment, Identity, IdentityMembership, Secret, UniversalAuth
from app.models.base import new_id
from app.reads import audit as read_audit
from app.reads.cache import cache_for
from app.reads.schemas import SecretListResponse, SecretRaw, SecretResponse
from app.store import secrets as secrets_store

REQUIRED_FIELDS = {
    "id",
    "_id",
    "workspace",
    "environment",
    "version",
    "type",
    "secretKey",
    "secretValue",
    "secretComment",
    "createdAt",
    "updatedAt",
}
PYTHON_SDK_QUERY = "viewSecretValue=true&secretPath=%2F&expandSecretReferences=true&include_imports=true"


@pytest.fixture
def writer(db_url):
    """A connection of its own, standing for another process that writes to the same database."""
    engine = create_engine(normalise_url(db_url))
    yield engine
    engine.dispose()


def _env_id(session: Session, project_id: str, slug: str) -> str:
    return session.exec(
        select(Environment.id).where(Environment.project_id == project_id, Environment.slug == slug)
    ).one()


@pytest.fixture
def secret(project) -> dict:
    with db.unit_of_work() as session:
        row = secrets_store.create_secret(
            session,
            project_id=project["id"],
            environment_id=_env_id(session, project["id"], "prod"),
            path="/",
            key="OPENROUTER_API_KEY",
            value="sk-or-v1-first",
        )
        return {"id": row.id, "project_id": project["id"]}


def _url(project_id: str, name: str = "OPENROUTER_API_KEY", env: str = "prod", extra: str = "") -> str:
    return f"/api/v3/secrets/raw/{name}?workspaceId={project_id}&environment={env}&{PYTHON_SDK_QUERY}{extra}"


def _identity(project_id: str, roles=("viewer",), scope=None, uses_limit: int = 0) -> dict:
    token = new_token()
    with db.unit_of_work() as session:
        identity = Identity(name="svc-" + new_id()[:8])
        ua = UniversalAuth(identity_id=identity.id, access_token_trusted_ips=ANYWHERE)
        row = AccessToken(
            token_hash=hash_token(token),
            identity_id=identity.id,
            ua_id=ua.id,
            ttl=3600,
            max_ttl=86400,
            num_uses_limit=uses_limit,
        )
        session.add(identity)
        session.flush()
        session.add(ua)
        session.flush()
        session.add(row)
        session.add(
            IdentityMembership(
                project_id=project_id,
                identity_id=identity.id,
                scope=scope,
                roles=[{"id": new_id(), "role": role} for role in roles],
            )
        )
    return {"identity_id": identity.id, "token_id": row.id, "headers": {"Authorization": f"Bearer {token}"}}


def _rotate(writer, secret_id: str, value: str) -> None:
    with Session(writer) as session:
        row = session.get(Secret, secret_id)
        secrets_store.set_value(session, row, value)
        session.commit()


def test_get_secret_has_every_field_the_sdks_need(client, secret):
    response = client.get(_url(secret["project_id"]), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()["secret"]
    assert body.keys() >= REQUIRED_FIELDS
    assert body["id"] == body["_id"] == secret["id"]
    assert body["workspace"] == secret["project_id"]
    assert (body["environment"], body["secretKey"], body["secretValue"]) == (
        "prod",
        "OPENROUTER_API_KEY",
        "sk-or-v1-first",
    )
    assert (body["version"], body["type"], body["secretComment"], body["secretPath"]) == (1, "shared", "", "/")
    assert body["secretValueHidden"] is False and body["tags"] == [] and body["isRotatedSecret"] is False
    assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")


def test_bodies_are_exactly_what_the_openapi_models_describe(client, secret):
    """The reads render JSON by hand (a cache hit serves bytes); their documented models must not drift."""
    one = client.get(_url(secret["project_id"])).json()
    many = client.get(f"/api/v3/secrets/raw?workspaceId={secret['project_id']}&environment=prod").json()
    fields = {field.alias or name for name, field in SecretRaw.model_fields.items()}
    assert set(one["secret"]) == fields and all(set(item) == fields for item in many["secrets"])
    assert SecretResponse.model_validate(one).model_dump(by_alias=True) == one
    assert SecretListResponse.model_validate(many).model_dump(by_alias=True) == many


def test_a_bad_token_is_401_before_any_complaint_about_the_query(anon_client, secret):
    for url in ("/api/v3/secrets/raw/X?version=zero", "/api/v3/secrets/raw?recursive=maybe"):
        response = anon_client.get(url, headers={"Authorization": "Bearer " + new_token()})
        assert response.status_code == 401, response.text


def test_node_and_go_queries_with_unknown_and_empty_params_are_accepted(client, secret):
    pid = secret["project_id"]
    node = (
        f"/api/v3/secrets/raw/OPENROUTER_API_KEY?secretName=OPENROUTER_API_KEY&workspaceId={pid}"
        "&environment=prod&expandSecretReferences=true&includeImports=false&secretPath=%2F&viewSecretValue=true"
    )
    go = (
        f"/api/v3/secrets/raw/OPENROUTER_API_KEY?workspaceId={pid}&workspaceSlug=&environment=prod"
        "&secretPath=%2F&type=shared&version=&include_imports=false&somethingNew=1"
    )
    for url in (node, go):
        response = client.get(url)
        assert response.status_code == 200, response.text
        assert response.json()["secret"]["secretValue"] == "sk-or-v1-first"


def test_project_by_slug_and_path_without_leading_slash(client, secret, project):
    response = client.get(
        f"/api/v3/secrets/raw/OPENROUTER_API_KEY?workspaceSlug={project['slug']}&environment=prod&secretPath="
    )
    assert response.status_code == 200, response.text


def test_bad_boolean_is_422_and_missing_selectors_are_400(client, secret):
    pid = secret["project_id"]
    bad = client.get(_url(pid, extra="&viewSecretValue=yes"))
    assert bad.status_code == 422 and bad.json()["error"] == "ValidationFailure"
    assert bad.json()["message"][0]["path"] == ["viewSecretValue"]
    no_project = client.get("/api/v3/secrets/raw/X?environment=prod")
    assert no_project.status_code == 400
    assert no_project.json()["message"] == "You must provide workspaceSlug or workspaceId"
    no_env = client.get(f"/api/v3/secrets/raw/X?workspaceId={pid}&environment=")
    assert (no_env.status_code, no_env.json()["message"]) == (400, "Missing environment")
    listing = client.get("/api/v3/secrets/raw?environment=prod")
    assert (listing.status_code, listing.json()["message"]) == (400, "Missing project id or environment")


def test_missing_secret_environment_and_project_are_404(client, secret):
    pid = secret["project_id"]
    missing = client.get(_url(pid, name="NOPE"))
    assert missing.status_code == 404
    assert missing.json()["message"] == "Secret with name 'NOPE' not found"
    assert missing.json()["error"] == "NotFound" and missing.json()["reqId"].startswith("req-")
    assert client.get(_url(pid, env="qa")).status_code == 404
    assert client.get(_url("no-such-project")).status_code == 404
    assert client.get(_url(pid, extra="&version=7")).status_code == 404


def test_percent_encoded_name_is_decoded(client, project):
    with db.unit_of_work() as session:
        secrets_store.create_secret(
            session,
            project_id=project["id"],
            path="/",
            key="MY KEY.v2",
            environment_id=_env_id(session, project["id"], "prod"),
            value="v",
        )
    response = client.get(_url(project["id"], name="MY%20KEY.v2"))
    assert response.status_code == 200 and response.json()["secret"]["secretKey"] == "MY KEY.v2"


def test_hidden_value_when_view_secret_value_is_false(client, secret):
    body = client.get(_url(secret["project_id"], extra="&viewSecretValue=false")).json()["secret"]
    assert body["secretValue"] == "<hidden-by-infisical>" and body["secretValueHidden"] is True


def test_etag_and_if_none_match_answer_304_without_body(client, secret, writer):
    url = _url(secret["project_id"])
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    _rotate(writer, secret["id"], "sk-or-v1-second")
    changed = _eventually(lambda: client.get(url, headers={"If-None-Match": etag}), lambda r: r.status_code == 200)
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["secret"]["secretValue"] == "sk-or-v1-second"


def test_no_token_or_unknown_token_is_401(anon_client, secret):
    url = _url(secret["project_id"])
    missing = anon_client.get(url, headers={"Authorization": ""})  # the `project` fixture set the admin's
    assert (missing.status_code, missing.json()["message"]) == (401, "Token missing")
    unknown = anon_client.get(url, headers={"Authorization": "Bearer " + new_token()})
    assert unknown.status_code == 401 and unknown.json()["error"] == "UnauthorizedError"


def test_rotation_is_seen_on_the_next_read_with_a_higher_version(client, secret, writer):
    url = _url(secret["project_id"])
    before = [client.get(url).json()["secret"] for _ in range(3)]  # the later reads come from the cache
    _rotate(writer, secret["id"], "sk-or-v1-second")
    after = _eventually(lambda: client.get(url).json()["secret"], lambda s: s["version"] == 2)
    assert before[-1]["version"] == 1 and after["secretValue"] == "sk-or-v1-second"
    assert after["updatedAt"] >= before[-1]["updatedAt"]


def _eventually(fetch, done, timeout: float = 0.5):
    """SQLite is exact; PostgreSQL's NOTIFY arrives within milliseconds of the commit."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.005)


def test_identity_reads_and_every_revocation_applies_at_once(anon_client, secret, writer):
    viewer = _identity(secret["project_id"])
    url = _url(secret["project_id"])
    for _ in range(3):
        assert anon_client.get(url, headers=viewer["headers"]).status_code == 200
    with Session(writer) as session:
        session.get(AccessToken, viewer["token_id"]).is_revoked = True
        session.commit()
    status = _eventually(lambda: anon_client.get(url, headers=viewer["headers"]).status_code, lambda s: s == 401)
    assert status == 401


def test_membership_removal_and_identity_deletion_apply_at_once(anon_client, secret, writer):
    member = _identity(secret["project_id"])
    other = _identity(secret["project_id"])
    url = _url(secret["project_id"])
    for who in (member, other):
        assert anon_client.get(url, headers=who["headers"]).status_code == 200
    with Session(writer) as session:
        session.exec(delete(IdentityMembership).where(IdentityMembership.identity_id == member["identity_id"]))
        session.exec(delete(Identity).where(Identity.id == other["identity_id"]))
        session.commit()
    assert _eventually(lambda: anon_client.get(url, headers=member["headers"]).status_code, lambda s: s == 403) == 403
    assert _eventually(lambda: anon_client.get(url, headers=other["headers"]).status_code, lambda s: s == 401) == 401


def test_viewer_scoped_to_prod_gets_403_on_dev(anon_client, secret):
    viewer = _identity(secret["project_id"], scope={"environments": ["prod"], "secretPaths": None})
    assert anon_client.get(_url(secret["project_id"]), headers=viewer["headers"]).status_code == 200
    denied = anon_client.get(_url(secret["project_id"], env="dev"), headers=viewer["headers"])
    assert denied.status_code == 403 and denied.json()["error"] == "PermissionDenied"
    assert "in environment 'dev'" in denied.json()["message"]


def test_use_limited_tokens_are_counted_on_every_read(anon_client, secret):
    limited = _identity(secret["project_id"], uses_limit=2)
    url = _url(secret["project_id"])
    assert [anon_client.get(url, headers=limited["headers"]).status_code for _ in range(3)] == [200, 200, 401]


def test_list_has_imports_and_leaves_out_paths_outside_the_scope(anon_client, client, secret):
    pid = secret["project_id"]
    with db.unit_of_work() as session:
        env_id = _env_id(session, pid, "prod")
        secrets_store.create_secret(session, project_id=pid, environment_id=env_id, path="/team/a", key="A", value="a")
        secrets_store.create_secret(session, project_id=pid, environment_id=env_id, path="/other", key="B", value="b")
    base = f"/api/v3/secrets/raw?workspaceId={pid}&environment=prod&viewSecretValue=true&include_imports=true"
    flat = client.get(base + "&secretPath=%2F&recursive=false")
    assert flat.status_code == 200 and flat.json()["imports"] == []
    assert [s["secretKey"] for s in flat.json()["secrets"]] == ["OPENROUTER_API_KEY"]
    assert flat.json()["secrets"][0].keys() >= REQUIRED_FIELDS
    everything = client.get(base + "&secretPath=/&recursive=true").json()["secrets"]
    assert {(s["secretPath"], s["secretKey"]) for s in everything} == {
        ("/", "OPENROUTER_API_KEY"),
        ("/team/a", "A"),
        ("/other", "B"),
    }
    scoped = _identity(pid, scope={"environments": None, "secretPaths": ["/team/**"]})
    assert anon_client.get(base + "&secretPath=/&recursive=true", headers=scoped["headers"]).status_code == 403
    under = anon_client.get(base + "&secretPath=/team&recursive=true", headers=scoped["headers"])
    assert [s["secretKey"] for s in under.json()["secrets"]] == ["A"]


def test_value_reads_are_audited_one_entry_per_caller_and_secret_per_window(client, secret):
    read_audit.flush_pending()
    for _ in range(3):
        client.get(_url(secret["project_id"]))
    read_audit.flush_pending()
    with Session(db.engine()) as session:
        entries = session.exec(select(AuditLog).where(AuditLog.event == "get-secret")).all()
    # Usually one entry; two if the background flush ran between the reads.
    assert {(e.actor, e.resource_id) for e in entries} == {("admin", secret["id"])}
    assert sum(e.metadata_entries["count"] for e in entries) == 3
    assert entries[0].metadata_entries["secretName"] == "OPENROUTER_API_KEY"
    assert "sk-or-v1" not in str(entries[0].metadata_entries)


def _drop_change_triggers(conn) -> list[str]:
    """Drop the change triggers and their counter table, as a database migrated without them; returns the
    statements that put them back."""
    if conn.dialect.name == "postgresql":
        found = conn.exec_driver_sql(
            "SELECT tgname, tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgname LIKE 'keyturn_change_%%' AND NOT tgisinternal"
        ).all()
        for name, table, _ in found:
            conn.exec_driver_sql(f"DROP TRIGGER {name} ON {table}")
    else:
        found = conn.exec_driver_sql(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'keyturn_change_%'"
        ).all()
        for name, _, _ in found:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    assert found
    conn.exec_driver_sql("DROP TABLE keyturn_change")
    return [
        "CREATE TABLE keyturn_change (id INTEGER NOT NULL PRIMARY KEY, n BIGINT NOT NULL)",
        "INSERT INTO keyturn_change (id, n) VALUES (1, 0)",
        *(definition for _, _, definition in found),
    ]


def test_without_change_triggers_reads_stay_correct(client, secret, writer, db_url):
    with writer.begin() as conn:
        restore = _drop_change_triggers(conn)
    try:
        url = _url(secret["project_id"])
        assert client.get(url).json()["secret"]["version"] == 1
        _rotate(writer, secret["id"], "sk-or-v1-second")
        assert client.get(url).json()["secret"]["version"] == 2
    finally:  # the migrated schema is shared by later tests on PostgreSQL
        with writer.begin() as conn:
            for statement in restore:
                conn.exec_driver_sql(statement)


def test_feed_loss_turns_the_cache_off_until_it_reconnects(client, secret, writer, db_url):
    if not db_url.startswith("postgres"):
        pytest.skip("the LISTEN connection exists on PostgreSQL only")
    url = _url(secret["project_id"])
    _eventually(lambda: client.get(url), lambda r: cache_for(db.engine()).stamp() is not None, timeout=3)
    with writer.begin() as conn:
        conn.exec_driver_sql(
            # Only this test process's database: other pytest-xdist workers listen on the same server.
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'LISTEN keyturn_change%%' AND pid <> pg_backend_pid()"
        )
    _rotate(writer, secret["id"], "sk-or-v1-second")  # its notice may be lost with the connection
    assert _eventually(lambda: client.get(url).json()["secret"]["version"], lambda v: v == 2) == 2
    assert _eventually(lambda: cache_for(db.engine()).stamp(), lambda s: s is not None, timeout=5) is not None


@pytest.mark.slow
def test_rotation_is_seen_by_every_worker_process(secret, writer, db_url, tmp_path):
    """Two uvicorn workers, each with its own cache, and a write from a third connection."""
    from tests.factories import ADMIN_TOKEN, ROOT_KEY

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "KEYTURN_DATABASE_URL": db_url,
        "KEYTURN_ROOT_KEY": ROOT_KEY,
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_WORKER": "off",
        "KEYTURN_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def versions(count: int = 40) -> set[int]:
        # A new connection per request, so both workers answer.
        return {
            httpx.get(base + _url(secret["project_id"]), headers=headers).json()["secret"]["version"]
            for _ in range(count)
        }

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/api/status")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "keyturn did not start"
                time.sleep(0.1)
        assert versions() == {1}
        _rotate(writer, secret["id"], "sk-or-v1-second")
        # SQLite is exact at once; PostgreSQL's notice takes milliseconds (more on a loaded machine).
        assert _eventually(versions, lambda seen: seen == {2}, timeout=2) == {2}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
