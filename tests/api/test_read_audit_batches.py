"""One bad row in a batch of read-audit entries loses only itself (issue 10 B4)."""

from __future__ import annotations

import pytest
from sqlmodel import select
from starlette.requests import Request

from app import db
from app.api.deps import client_ip
from app.models import AuditLog
from app.reads import audit as read_audit


def test_a_bad_row_loses_only_itself(app):
    writer = read_audit.writer_for(db.engine())
    for caller in ("identity:a", "identity:b"):
        writer.add(actor=caller, ip="10.0.0.1", event="get-secret", project_id="p", resource_id="s", metadata=())
    # An address longer than its column (varchar 64): PostgreSQL refuses the row, and used to refuse the batch.
    writer.add(actor="identity:c", ip="x" * 100, event="get-secret", project_id="p", resource_id="s", metadata=())
    writer.flush()
    with db.unit_of_work() as session:
        actors = set(session.exec(select(AuditLog.actor).where(AuditLog.event == "get-secret")).all())
    assert {"identity:a", "identity:b"} <= actors


@pytest.mark.parametrize(
    "host, expected",
    [("10.0.0.1", "10.0.0.1"), ("::1", "::1"), ("x" * 100, None), ("testclient", None), ("10.0.0.1, 10.0.0.2", None)],
)
def test_the_client_address_is_an_ip_or_nothing(host, expected):
    request = Request({"type": "http", "client": (host, 50000), "headers": [], "method": "GET", "path": "/"})
    assert client_ip(request) == expected
