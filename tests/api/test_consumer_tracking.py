"""Consumers of a rotated secret (issue 12, item 1): identity reads are recorded by the batched read audit,
never on the request path, with the version and key generation each read returned and where it came from."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from app import db
from app.db import normalise_url
from app.models import AuditLog, RotationCredential, Secret
from app.reads import audit as read_audit
from app.store import consumers
from app.store.consumers import RotatedRead
from tests.factories import OR, as_identity, post_rotation, wait_until

SECRET_NAME = "OPEN_ROUTER_API_KEY"
IP = "127.0.0.1"  # the test client's address (tests/conftest.py)


def _one(project: dict) -> str:
    return f"/api/v3/secrets/raw/{SECRET_NAME}?workspaceId={project['id']}&environment=dev&secretPath=/"


def _many(project: dict) -> str:
    return f"/api/v3/secrets/raw?workspaceId={project['id']}&environment=dev&secretPath=/"


def _read(client, project: dict, headers: dict | None = None) -> dict:
    response = client.get(_one(project), headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()["secret"]


def _records(rotation_id: str) -> list[consumers.ConsumerRecord]:
    with db.unit_of_work() as session:
        return consumers.consumers_of_rotation(session, rotation_id)


def _writer() -> read_audit.ReadAuditWriter:
    return read_audit.writer_for(db.engine())


@contextmanager
def _statements() -> Iterator[list[tuple[str, str]]]:
    """(thread name, SQL) of every statement the app's engine runs inside the block, from any thread."""
    seen: list[tuple[str, str]] = []

    def listener(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append((threading.current_thread().name, statement))

    event.listen(db.engine(), "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine(), "before_cursor_execute", listener)


def _writes(seen: list[tuple[str, str]]) -> list[str]:
    return [sql for _, sql in seen if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


@pytest.fixture
def rotation(client, project, connection) -> dict:
    return post_rotation(client, project, connection)


def test_identity_reads_are_recorded_with_version_generation_and_address(client, project, rotation):
    billing = as_identity(client, project, "viewer", name="billing-api")
    assert _read(client, project, billing)["version"] == 1
    _read(client, project)  # the admin token: not a consumer
    read_audit.flush_pending()
    (record,) = _records(rotation["id"])
    assert (record.identity_name, record.last_read_version, record.last_read_generation, record.ip_address) == (
        "billing-api",
        1,
        1,
        IP,
    )
    assert record.migrated
    first_read_at = record.last_read_at

    response = client.post(f"{OR}/{rotation['id']}/rotate-secrets")
    assert response.status_code == 200, response.text
    read_audit.flush_pending()
    (record,) = _records(rotation["id"])
    assert (record.last_read_version, record.current_version, record.migrated) == (1, 2, False)

    # On PostgreSQL the read cache hears of the rotation by NOTIFY, a few milliseconds after its answer.
    wait_until(lambda: _read(client, project, billing)["version"] == 2, 5, "version 2 to be served")
    read_audit.flush_pending()
    (record,) = _records(rotation["id"])
    assert (record.last_read_version, record.last_read_generation, record.migrated) == (2, 2, True)
    assert record.last_read_at >= first_read_at and record.first_read_at == first_read_at


def test_the_generation_a_version_holds_is_the_published_key(client, project, rotation):
    for _ in range(2):
        assert client.post(f"{OR}/{rotation['id']}/rotate-secrets").status_code == 200
    with db.unit_of_work() as session:
        secret = session.exec(select(Secret).where(Secret.rotation_id == rotation["id"])).one()
        active = session.exec(
            select(RotationCredential.generation).where(
                RotationCredential.rotation_id == rotation["id"], RotationCredential.state == "active"
            )
        ).one()
    assert (secret.version, secret.rotation_generation, active) == (3, 3, 3)


def test_admin_token_reads_are_not_consumers(client, project, rotation, monkeypatch):
    noted = []
    monkeypatch.setattr(_writer(), "consumed", lambda **read: noted.append(read))
    _read(client, project)
    assert client.get(_many(project)).status_code == 200
    assert noted == []
    _read(client, project, as_identity(client, project, "viewer", name="billing-api"))
    assert [read["ip"] for read in noted] == [IP]


def test_listing_the_path_counts_as_reading_the_secret(client, project, rotation):
    billing = as_identity(client, project, "viewer", name="billing-api")
    response = client.get(_many(project), headers=billing)
    assert response.status_code == 200 and [s["secretKey"] for s in response.json()["secrets"]] == [SECRET_NAME]
    client.get(_many(project))  # the admin token
    read_audit.flush_pending()
    assert [(r.identity_name, r.last_read_generation) for r in _records(rotation["id"])] == [("billing-api", 1)]


def test_hidden_values_are_not_reads_of_the_key_but_a_current_copy_is(client, project, rotation):
    billing = as_identity(client, project, "viewer", name="billing-api")
    hidden = _one(project) + "&viewSecretValue=false"
    assert client.get(hidden, headers=billing).status_code == 200
    hidden_etag = client.get(hidden).headers["etag"]
    assert client.get(hidden, headers={**billing, "If-None-Match": hidden_etag}).status_code == 304
    read_audit.flush_pending()
    assert _records(rotation["id"]) == []
    # A 304 to the value's own ETag: the client holds the current key (clients §5.3).
    etag = client.get(_one(project)).headers["etag"]
    assert client.get(_one(project), headers={**billing, "If-None-Match": etag}).status_code == 304
    read_audit.flush_pending()
    assert [(r.identity_name, r.last_read_version) for r in _records(rotation["id"])] == [("billing-api", 1)]


def test_a_read_writes_nothing_to_the_database_on_the_request_path(client, project, rotation):
    billing = as_identity(client, project, "viewer", name="billing-api")
    with _statements() as seen:
        for _ in range(3):  # the first fills the caches, the others are served from them
            _read(client, project, billing)
        assert client.get(_many(project), headers=billing).status_code == 200
    on_request_path = [(thread, sql) for thread, sql in seen if thread != "keyturn-read-audit"]
    assert on_request_path, "the cold read should have queried the database"
    assert _writes(on_request_path) == []
    read_audit.flush_pending()
    assert [r.identity_name for r in _records(rotation["id"])] == ["billing-api"]


def test_one_flush_writes_every_consumer_in_one_statement(client, project, rotation):
    callers = [as_identity(client, project, "viewer", name=f"svc-{n}") for n in range(5)]
    writer = _writer()
    writer.flush()
    with writer._flush_lock:  # holds the background flush back until every read is noted
        for headers in callers:
            _read(client, project, headers)
    with _statements() as seen:
        writer.flush()
    upserts = [sql for sql in _writes(seen) if "secret_consumer" in sql]
    assert len(upserts) == 1 and "ON CONFLICT" in upserts[0].upper()
    assert sorted(r.identity_name for r in _records(rotation["id"])) == [f"svc-{n}" for n in range(5)]


def test_the_record_survives_a_restart(client, project, rotation, db_url):
    as_billing = as_identity(client, project, "viewer", name="billing-api")
    _read(client, project, as_billing)
    read_audit.flush_pending()
    db.engine().dispose()
    restarted = create_engine(normalise_url(db_url))  # another process, started after this one stopped
    try:
        with Session(restarted) as session:
            records = consumers.consumers_of_rotation(session, rotation["id"])
    finally:
        restarted.dispose()
    assert [(r.identity_name, r.last_read_version, r.ip_address) for r in records] == [("billing-api", 1, IP)]


def test_a_deleted_identity_loses_only_its_own_record(client, project, rotation):
    as_billing = as_identity(client, project, "viewer", name="billing-api")
    with db.unit_of_work() as session:
        secret = session.exec(select(Secret).where(Secret.rotation_id == rotation["id"])).one()
    writer = _writer()
    with writer._flush_lock:  # both in one batch, which the unknown identity makes fail as a whole
        _read(client, project, as_billing)
        writer.consumed(identity_id="no-such-identity", ip=IP, read=RotatedRead.of(secret))
    read_audit.flush_pending()
    assert [r.identity_name for r in _records(rotation["id"])] == ["billing-api"]
    with db.unit_of_work() as session:  # the audit entries are written apart, and were not lost either
        assert session.exec(select(AuditLog).where(AuditLog.event == "get-secret")).all()


def test_records_wait_for_a_database_that_was_away(client, project, rotation, monkeypatch):
    as_billing = as_identity(client, project, "viewer", name="billing-api")
    write = consumers.record_reads
    failures = []

    def away_once(session, reads):
        if not failures:
            failures.append(len(reads))
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        write(session, reads)

    monkeypatch.setattr(consumers, "record_reads", away_once)
    _read(client, project, as_billing)
    read_audit.flush_pending()
    read_audit.flush_pending()  # the held record goes with the next flush
    assert failures == [1]
    assert [r.identity_name for r in _records(rotation["id"])] == ["billing-api"]
