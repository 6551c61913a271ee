"""Consumer records (issue 12, item 1): the batched upsert and the two questions the view and the engine ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app import db
from app.models import Environment, Identity, SecretConsumer
from app.store import consumers
from app.store import secrets as secrets_store
from app.store.consumers import ConsumerRead, RotatedRead

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PUBLISHED = {1: T0, 2: T0 + timedelta(hours=1), 3: T0 + timedelta(hours=2)}  # generation -> published_at
ROTATION = "rotation-under-test"


def _at(generation: int, seconds: float) -> datetime:
    return PUBLISHED[generation] + timedelta(seconds=seconds)


def _secret(project_id: str, key: str, rotation_id: str | None, version: int, generation: int | None) -> str:
    with db.unit_of_work() as session:
        env_id = session.exec(
            select(Environment.id).where(Environment.project_id == project_id, Environment.slug == "dev")
        ).one()
        row = secrets_store.create_secret(
            session,
            project_id=project_id,
            environment_id=env_id,
            path="/",
            key=key,
            value="v1",
            rotation_id=rotation_id,
            generation=generation,
        )
        row.version = version
        return row.id


def _identities(*names: str) -> dict[str, str]:
    with db.unit_of_work() as session:
        rows = [Identity(name=name) for name in names]
        session.add_all(rows)
        return {row.name: row.id for row in rows}


def _record(*reads: ConsumerRead) -> None:
    with db.unit_of_work() as session:
        consumers.record_reads(session, list(reads))


def _stored() -> dict[str, SecretConsumer]:
    with db.unit_of_work() as session:
        return {row.identity_id: row for row in session.exec(select(SecretConsumer)).all()}


@pytest.fixture
def rotated(project) -> str:
    """The rotation's secret, at version 3 holding generation 3 (the active key)."""
    return _secret(project["id"], "API_KEY", ROTATION, version=3, generation=3)


def test_a_record_keeps_the_latest_read_and_never_moves_back(rotated):
    ids = _identities("billing-api")
    who = ids["billing-api"]
    older, newer = RotatedRead(rotated, ROTATION, 2, 2), RotatedRead(rotated, ROTATION, 3, 3)
    _record(ConsumerRead(older, who, _at(2, 5), "10.0.0.1"))
    _record(ConsumerRead(newer, who, _at(3, 5), "10.0.0.2"))
    # Another process's batch with an older read, flushed later, changes nothing.
    _record(ConsumerRead(older, who, _at(2, 9), "10.0.0.3"))
    row = _stored()[who]
    assert (row.last_read_at, row.last_read_version, row.last_read_generation, row.ip_address) == (
        _at(3, 5),
        3,
        3,
        "10.0.0.2",
    )
    assert row.first_read_at == _at(2, 5) and row.rotation_id == ROTATION


def test_an_equal_time_read_replaces_and_an_overlong_address_is_dropped(rotated):
    who = _identities("billing-api")["billing-api"]
    _record(ConsumerRead(RotatedRead(rotated, ROTATION, 2, 2), who, _at(3, 1), "10.0.0.1"))
    _record(ConsumerRead(RotatedRead(rotated, ROTATION, 3, 3), who, _at(3, 1), "x" * 65))
    row = _stored()[who]
    assert (row.last_read_version, row.ip_address) == (3, None)


def test_one_upsert_writes_many_records(rotated):
    ids = _identities(*(f"svc-{n}" for n in range(7)))
    read = RotatedRead(rotated, ROTATION, 3, 3)
    _record(*(ConsumerRead(read, who, _at(3, n), None) for n, who in enumerate(ids.values())))
    assert set(_stored()) == set(ids.values())


def _lagging_names(**kwargs) -> list[str]:
    with db.unit_of_work() as session:
        return [r.identity_name for r in consumers.lagging_identities(session, ROTATION, **kwargs)]


def test_lagging_identities_follow_rule_a(project, rotated):
    elsewhere = _secret(project["id"], "OTHER_KEY", "another-rotation", version=1, generation=1)
    ids = _identities("a-migrated", "b-holds-2", "c-holds-1", "d-stale-after-2", "e-unknown-old", "f-unknown-current")
    ids |= _identities("g-skewed-clock", "h-other-rotation")
    reads = {
        "a-migrated": (RotatedRead(rotated, ROTATION, 3, 3), _at(3, 10)),
        "b-holds-2": (RotatedRead(rotated, ROTATION, 2, 2), _at(2, 5)),
        "c-holds-1": (RotatedRead(rotated, ROTATION, 1, 1), _at(1, 5)),
        # Read after key 2 was published, but served key 1 (a cached read): it lags, on the safe side.
        "d-stale-after-2": (RotatedRead(rotated, ROTATION, 1, 1), _at(2, 1)),
        # Generations not recorded (reads from before revision 0006): the version decides.
        "e-unknown-old": (RotatedRead(rotated, ROTATION, 2, None), _at(2, 2)),
        "f-unknown-current": (RotatedRead(rotated, ROTATION, 3, None), _at(3, 2)),
        # Received key 2, but its process's clock wrote a time before key 2's publisher's clock did.
        "g-skewed-clock": (RotatedRead(rotated, ROTATION, 2, 2), _at(2, -1)),
        "h-other-rotation": (RotatedRead(elsewhere, "another-rotation", 1, 1), _at(3, 1)),
    }
    _record(*(ConsumerRead(read, ids[name], at, None) for name, (read, at) in reads.items()))

    assert _lagging_names(since=PUBLISHED[2], active_generation=3) == ["b-holds-2", "d-stale-after-2", "e-unknown-old"]
    assert _lagging_names(since=PUBLISHED[2], active_generation=3, generation=2) == [
        "b-holds-2",
        "d-stale-after-2",
        "e-unknown-old",
        "g-skewed-clock",
    ]
    assert _lagging_names(since=PUBLISHED[1], active_generation=3) == [
        "b-holds-2",
        "c-holds-1",
        "d-stale-after-2",
        "e-unknown-old",
        "g-skewed-clock",
    ]
    # Nothing lags the active key.
    assert _lagging_names(since=PUBLISHED[3], active_generation=3) == []


def test_consumers_of_rotation_names_every_reader_of_its_secret(project, rotated):
    elsewhere = _secret(project["id"], "OTHER_KEY", "another-rotation", version=1, generation=1)
    ids = _identities("zeta", "alpha", "outsider")
    _record(
        ConsumerRead(RotatedRead(rotated, ROTATION, 3, 3), ids["zeta"], _at(3, 4), "10.0.3.7"),
        ConsumerRead(RotatedRead(rotated, ROTATION, 2, 2), ids["alpha"], _at(2, 4), "::1"),
        ConsumerRead(RotatedRead(elsewhere, "another-rotation", 1, 1), ids["outsider"], _at(3, 4), None),
    )
    with db.unit_of_work() as session:
        records = consumers.consumers_of_rotation(session, ROTATION)
    assert [
        (r.identity_name, r.identity_id, r.last_read_version, r.last_read_generation, r.ip_address, r.migrated)
        for r in records
    ] == [("alpha", ids["alpha"], 2, 2, "::1", False), ("zeta", ids["zeta"], 3, 3, "10.0.3.7", True)]
    assert records[0].last_read_at == _at(2, 4) and records[0].current_version == 3


def test_a_released_secret_has_no_consumers_left_for_its_old_rotation(rotated):
    who = _identities("billing-api")["billing-api"]
    _record(ConsumerRead(RotatedRead(rotated, ROTATION, 2, 2), who, _at(2, 4), None))
    with db.unit_of_work() as session:
        secrets_store.release_secrets(session, ROTATION)
    with db.unit_of_work() as session:
        assert consumers.consumers_of_rotation(session, ROTATION) == []
        assert consumers.lagging_identities(session, ROTATION, since=T0, active_generation=3) == []


def test_deleting_an_identity_or_the_secret_deletes_its_records(rotated):
    ids = _identities("gone", "stays")
    read = RotatedRead(rotated, ROTATION, 3, 3)
    _record(*(ConsumerRead(read, who, _at(3, 1), None) for who in ids.values()))
    with db.unit_of_work() as session:
        session.delete(session.get_one(Identity, ids["gone"]))
    assert set(_stored()) == {ids["stays"]}
    with db.unit_of_work() as session:
        secrets_store.delete_secrets_of(session, ROTATION)
    assert _stored() == {}
