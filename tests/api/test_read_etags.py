"""ETags on every read, lists included, v3 and v4 (clients §5.3): strong, answered with a 304 to a matching
`If-None-Match` only after the caller is checked, counted as a read, and exact in both directions: the ETag
changes when something the caller may see changes, and never otherwise."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from app import crypto, db
from app.models import AuditLog
from app.reads import audit as read_audit
from app.reads import etag
from app.reads.cache import cache_for
from app.store import consumers
from tests.factories import (
    bearer,
    delete_secret,
    grant,
    make_machine,
    post_rotation,
    put_secret,
    set_secret_value,
    token_for,
    wait_until,
)


def _reads(pid: str) -> dict[str, str]:
    """Every kind of read, each named, of the secrets under /svc in prod."""
    where = f"environment=prod&secretPath=%2Fsvc&projectId={pid}"
    return {
        "v3 get A": f"/api/v3/secrets/raw/A?{where}",
        "v3 get B": f"/api/v3/secrets/raw/B?{where.replace('%2Fsvc', '%2Fsvc%2Fsub')}",
        "v3 list": f"/api/v3/secrets/raw?{where}",
        "v3 list recursive": f"/api/v3/secrets/raw?{where}&recursive=true",
        "v4 get A": f"/api/v4/secrets/A?{where}",
        "v4 list": f"/api/v4/secrets?{where}",
        "v4 list recursive": f"/api/v4/secrets?{where}&recursive=true",
    }


@pytest.fixture
def svc(client, project) -> dict:
    """Secrets A at /svc and B at /svc/sub, and a viewer identity with its membership's URL."""
    ids = {
        "A": put_secret(project["id"], "A", "value-a", path="/svc"),
        "B": put_secret(project["id"], "B", "value-b", path="/svc/sub"),
    }
    machine = make_machine(client, "svc-reader")
    grant(client, project["id"], machine.identity_id, "viewer")
    return {
        "ids": ids,
        "headers": bearer(token_for(client, machine)),
        "membership": f"/api/v1/projects/{project['id']}/memberships/identities/{machine.identity_id}",
        "reads": _reads(project["id"]),
    }


def _etags(anon_client, svc) -> dict[str, str]:
    etags = {}
    for name, url in svc["reads"].items():
        response = anon_client.get(url, headers=svc["headers"])
        assert response.status_code == 200, (name, response.text)
        etags[name] = response.headers["etag"]
    return etags


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def _settled(anon_client, svc, before: dict[str, str], expected: set[str]) -> dict[str, str]:
    """The ETags once the change is served (PostgreSQL's NOTIFY takes milliseconds); then exactly `expected`
    changed."""

    def served():
        etags = _etags(anon_client, svc)
        return etags if _changed(before, etags) >= expected else None

    after = wait_until(served, timeout=5, what=f"new ETags for {sorted(expected)}")
    assert _changed(before, after) == expected
    return after


def _stamp_moves(write) -> None:
    """Run `write` and wait until the read cache has heard of it: whatever was cached is rendered again."""
    cache = cache_for(db.engine())
    before = cache.stamp()
    write()
    wait_until(lambda: cache.stamp() not in (None, before), timeout=5, what="the change feed to report the write")


def test_every_read_has_a_strong_etag_and_a_matching_if_none_match_is_a_bare_304(anon_client, svc):
    for name, url in svc["reads"].items():
        first = anon_client.get(url, headers=svc["headers"])
        tag = first.headers["etag"]
        assert tag.startswith('"') and tag.endswith('"') and len(tag) > 20, name
        for sent in (tag, "W/" + tag, f'"other", {tag}', f'W/{tag}, W/"x"'):
            again = anon_client.get(url, headers={**svc["headers"], "If-None-Match": sent})
            assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag), (name, sent)
            assert again.headers["cache-control"] == "no-store"
        other = anon_client.get(url, headers={**svc["headers"], "If-None-Match": '"not-it"'})
        assert (other.status_code, other.content, other.headers["etag"]) == (200, first.content, tag)


def test_the_etag_never_changes_when_nothing_the_caller_sees_does(anon_client, client, project, svc):
    before = _etags(anon_client, svc)
    assert _etags(anon_client, svc) == before  # cached
    cache_for(db.engine()).invalidate()
    assert _etags(anon_client, svc) == before  # rendered again from the database
    # Writes that drop every cached read, yet change nothing these reads answer:
    _stamp_moves(lambda: put_secret(project["id"], "A", "elsewhere", environment="dev", path="/svc"))
    assert _etags(anon_client, svc) == before
    _stamp_moves(lambda: put_secret(project["id"], "C", "beside", path="/other"))
    assert _etags(anon_client, svc) == before
    other = make_machine(client, "someone-else")
    _stamp_moves(lambda: grant(client, project["id"], other.identity_id, "viewer"))
    assert _etags(anon_client, svc) == before


def test_the_etag_changes_exactly_where_what_the_caller_sees_changes(anon_client, client, project, svc):
    before = _etags(anon_client, svc)
    set_secret_value(svc["ids"]["A"], "value-a2")  # a rotation: value, version, updatedAt
    lists = {"v3 list", "v3 list recursive", "v4 list", "v4 list recursive"}
    after = _settled(anon_client, svc, before, {"v3 get A", "v4 get A"} | lists)

    added = put_secret(project["id"], "D", "value-d", path="/svc")
    after = _settled(anon_client, svc, after, lists)
    delete_secret(added)
    after = _settled(anon_client, svc, after, lists)

    deep = put_secret(project["id"], "E", "value-e", path="/svc/sub/deeper")
    after = _settled(anon_client, svc, after, {"v3 list recursive", "v4 list recursive"})
    delete_secret(deep)
    after = _settled(anon_client, svc, after, {"v3 list recursive", "v4 list recursive"})

    # The caller's scope narrows to /svc itself: B, below it, leaves the recursive lists (its own read is refused).
    narrowed = client.patch(svc["membership"], json={"scope": {"secretPaths": ["/svc"]}})
    assert narrowed.status_code == 200, narrowed.text
    del svc["reads"]["v3 get B"]
    del after["v3 get B"]
    _settled(anon_client, svc, after, {"v3 list recursive", "v4 list recursive"})


def test_a_hidden_value_has_an_etag_of_its_own(anon_client, svc):
    url = svc["reads"]["v4 list"]
    shown = anon_client.get(url, headers=svc["headers"]).headers["etag"]
    hidden = anon_client.get(url + "&viewSecretValue=false", headers=svc["headers"])
    assert b"value-a" not in hidden.content and hidden.headers["etag"] != shown
    stale = anon_client.get(url + "&viewSecretValue=false", headers={**svc["headers"], "If-None-Match": shown})
    assert stale.status_code == 200


def test_the_caller_is_checked_before_the_etag_is_compared(anon_client, client, svc):
    url = svc["reads"]["v4 list"]
    tag = anon_client.get(url, headers=svc["headers"]).headers["etag"]
    none = anon_client.get(url, headers={"If-None-Match": tag, "Authorization": ""})
    assert (none.status_code, none.json()["message"]) == (401, "Token missing")
    assert client.delete(svc["membership"]).status_code == 200
    refused = wait_until(
        lambda: (r := anon_client.get(url, headers={**svc["headers"], "If-None-Match": tag})).status_code == 403 and r,
        timeout=5,
        what="the removed membership to apply",
    )
    assert refused.json()["error"] == "PermissionDenied"


def test_etags_are_keyed_by_the_root_key_so_every_replica_agrees_and_no_value_can_be_guessed(monkeypatch):
    body = b'{"secrets":[],"imports":[]}'
    same = [crypto.Keyring([("k1", b"\x01" * 32)]), crypto.Keyring([("k1", b"\x01" * 32), ("k0", b"\x02" * 32)])]
    tags = set()
    for ring in same:
        monkeypatch.setattr(crypto, "_keyring", ring)
        tags.add(etag.etag_of(body))
    monkeypatch.setattr(crypto, "_keyring", crypto.Keyring([("k2", b"\x03" * 32)]))
    assert len(tags) == 1 and etag.etag_of(body) not in tags
    assert tags != {'"POg/gpf66KRdPWxjgZJkjz2p5M4="'}  # Infisical's unkeyed SHA-1 of the same body


def test_a_304_is_audited_and_counts_the_caller_as_a_consumer(anon_client, client, project, connection):
    rotation = post_rotation(client, project, connection)
    url = f"/api/v4/secrets/OPEN_ROUTER_API_KEY?projectId={project['id']}&environment=dev&secretPath=%2F"
    tag = client.get(url).headers["etag"]  # the admin's copy: the same bytes, so the same ETag
    machine = make_machine(client, "etag-consumer")
    grant(client, project["id"], machine.identity_id, "viewer")
    headers = {**bearer(token_for(client, machine)), "If-None-Match": tag}
    read_audit.flush_pending()
    assert [anon_client.get(url, headers=headers).status_code for _ in range(2)] == [304, 304]
    read_audit.flush_pending()
    with db.unit_of_work() as session:
        (record,) = consumers.consumers_of_rotation(session, rotation["id"])
    assert (record.identity_id, record.last_read_version) == (machine.identity_id, 1)
    with Session(db.engine()) as session:
        entries = session.exec(select(AuditLog).where(AuditLog.event == "get-secret")).all()
    mine = [e for e in entries if e.actor.endswith(machine.identity_id)]
    assert sum(e.metadata_entries["count"] for e in mine) == 2
