"""The one lease per rotation (rotation §14g): rotate, update and delete all need it.

Taking the lease is one conditional UPDATE, atomic on SQLite and PostgreSQL alike: it succeeds only if
nobody holds an unexpired lease. app.rotation.heartbeat renews it while work runs, so a crashed holder's
lease simply lapses and the next holder reconciles what it left behind.

Every expiry is set and compared with the database's clock (`db.now()`, inside the statement), never the
process's: two processes whose clocks disagree would otherwise each think the other's lease had lapsed.

The worker takes the leases of a batch of due rotations at once (`claim_due`) and passes each token to
the engine (`rotate(..., lease_owner=token)`), which re-takes the lease it already holds (`take`, in the same
statement that reads the row).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, Update, and_, bindparam, or_, select, union_all, update
from sqlalchemy.orm import class_mapper, make_transient_to_detached
from sqlmodel import Session

from app import db
from app.config import get_settings
from app.models import SecretRotation
from app.models.tables import ROTATIONS

log = logging.getLogger("keyturn.lease")

R = ROTATIONS.c  # Core columns: lease statements skip the ORM (app.models.tables)
BUSY_MESSAGE = "A rotation is already in progress. Please try again shortly."


class LeaseLost(Exception):
    """Our lease lapsed (the heartbeat could not renew it): someone else may be working on the rotation."""


def new_owner() -> str:
    return "lease-" + secrets.token_hex(16)


def lease_seconds() -> float:
    return get_settings().lease_seconds


def _expires() -> ColumnElement[Any]:
    """A new or renewed lease's expiry, by the database's clock."""
    return db.now(lease_seconds())


def free() -> ColumnElement[bool]:
    """Nobody holds an unexpired lease on the row, by the database's clock (the negation of `_held`)."""
    return or_(
        R.lease_owner.is_(None),
        R.lease_expires_at.is_(None),
        R.lease_expires_at < db.now(),
    )


def _held() -> ColumnElement[bool]:
    return and_(
        R.lease_owner.is_not(None),
        R.lease_expires_at.is_not(None),
        R.lease_expires_at >= db.now(),
    )


def _updated(session: Session, statement: Update, params: dict[str, Any] | None = None) -> int:
    return cast(CursorResult[Any], session.execute(statement, params)).rowcount


def acquire(rotation_id: str, owner: str | None = None) -> str | None:
    """Take the lease if it is free or expired (or already ours: `owner` given); return the owner token, or
    None if someone else holds it."""
    owner = owner or new_owner()
    statement = (
        update(ROTATIONS)
        .where(R.id == rotation_id)
        .where(or_(free(), R.lease_owner == owner))
        .values(lease_owner=owner, lease_expires_at=_expires())
    )
    with db.unit_of_work() as session:
        taken = _updated(session, statement) == 1
    return owner if taken else None


def _due_and_free() -> tuple[ColumnElement[bool], ...]:
    """A scheduled run may start: enabled and due, or its active key expires within one interval (issue 12: even
    with auto-rotation off), not backing off, and nobody holds an unexpired lease (all by the database's clock)."""
    now = db.now()
    return (
        or_(
            and_(R.is_auto_rotation_enabled.is_(True), R.next_rotation_at.is_not(None), R.next_rotation_at <= now),
            R.expiry_due_at <= now,
        ),
        or_(R.retry_not_before.is_(None), R.retry_not_before <= now),
        free(),
    )


def _oldest_due(exclude: Collection[str]) -> tuple[Select[tuple[str]], Select[tuple[str]]]:
    """The due rotations with a free lease, as two ordered choices (the caller limits each), in the order they are
    taken: keys about to expire first, longest due first (their consumers break when they do), then the
    longest-overdue schedules. The two are disjoint, and each is ordered by an indexed column, so a claim under a
    backlog reads a few index entries, not the whole backlog. (Not one ORDER BY on next_rotation_at: a paused
    rotation has none, which PostgreSQL sorts last, and a key can expire before its schedule comes.)"""
    expiring = R.expiry_due_at <= db.now()
    claimable = (*_due_and_free(), *((R.id.not_in(list(exclude)),) if exclude else ()))
    first = select(R.id).where(*claimable, expiring).order_by(R.expiry_due_at)
    then = select(R.id).where(*claimable, or_(R.expiry_due_at.is_(None), ~expiring)).order_by(R.next_rotation_at)
    return first, then


def claim_due(limit: int, exclude: Collection[str] = ()) -> tuple[str, list[str]]:
    """Take the leases of up to `limit` due rotations (keys about to expire first, then the longest overdue) in
    one transaction.

    Returns one owner token for the batch and the ids now leased to it. Concurrent claims get disjoint
    rows: PostgreSQL locks the chosen rows FOR UPDATE SKIP LOCKED, so another claim passes over them
    instead of waiting or racing; SQLite runs the choice and the update as one statement under its single
    write lock. The update re-checks that each lease is still free, so a row is never taken twice."""
    owner = new_owner()
    if limit <= 0:
        return owner, []
    rotation_id = R.id
    first, then = _oldest_due(exclude)
    take = (
        update(ROTATIONS)
        .where(*_due_and_free())
        .values(lease_owner=owner, lease_expires_at=_expires())
        .returning(rotation_id)
    )
    with db.unit_of_work() as session:
        taken: list[str]
        if db.is_sqlite(db.engine()):
            # One statement: SQLite allows no LIMIT in a compound's parts, so each choice is a subquery of its own.
            parts = (select(choice.limit(limit).subquery().c.id) for choice in (first, then))
            both = union_all(*parts).subquery()
            taken = list(session.execute(take.where(rotation_id.in_(select(both.c.id).limit(limit)))).scalars())
        else:
            # Separate statements, not UPDATE ... IN (SELECT ... LIMIT ... SKIP LOCKED): PostgreSQL may re-run
            # such a subquery and lock more rows than asked for.
            chosen = list(session.execute(first.limit(limit).with_for_update(skip_locked=True)).scalars())
            if len(chosen) < limit:
                rest = then.limit(limit - len(chosen)).with_for_update(skip_locked=True)
                chosen += session.execute(rest).scalars()
            taken = list(session.execute(take.where(rotation_id.in_(chosen))).scalars()) if chosen else []
    return owner, taken


# The statements below run on every rotation: each is built once per shape and lease length (db.set_clause).
_OURS = (R.id == bindparam("p_id"), R.lease_owner == bindparam("p_owner"))


def extend(session: Session, rotation_id: str, owner: str) -> bool:
    """Inside the caller's transaction: renew our lease and lock the row; False if the lease is lost.

    Every write made under the lease starts with this (or `leased_row`, `take`, `write_leased`, which do the same
    in the statement that reads or writes the row), so a holder whose lease lapsed cannot publish."""
    statement = _write_statement((), (("lease_expires_at", _expires()),), False)
    return _updated(session, statement, {"p_id": rotation_id, "p_owner": owner}) == 1


@functools.lru_cache(maxsize=64)
def _write_statement(
    plain: tuple[str, ...],
    expressions: tuple[tuple[str, Any], ...],
    returning: bool,
    also: tuple[ColumnElement[Any], ...] = (),
) -> Update:
    statement = update(ROTATIONS).where(*_OURS).values(db.set_clause(plain, expressions))
    return statement.returning(db.now(), *map(db.qualified, also)) if returning else statement


@functools.lru_cache(maxsize=8)
def _leased_row_statement(lease_seconds: float) -> Update:
    """UPDATE ... RETURNING the ORM row (in the caller's session, as its callers write to it): the lease renewed where
    it is `p_owner`'s, and the row as it is now."""
    return (
        update(SecretRotation)
        .where(*_OURS)
        .values(lease_expires_at=db.now(lease_seconds))
        .returning(SecretRotation)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


@functools.lru_cache(maxsize=8)
def _take_statement(lease_seconds: float, also: tuple[ColumnElement[Any], ...]) -> Update:
    """In Core, not as an ORM UPDATE ... RETURNING SecretRotation: the ORM's path re-computes the statement's cache
    key and loads the instance on every run, which cost more CPU than the statement (this one runs on every
    rotation)."""
    return (
        update(ROTATIONS)
        .where(R.id == bindparam("p_id"), or_(free(), R.lease_owner == bindparam("p_owner")))
        .values(lease_owner=bindparam("p_owner"), lease_expires_at=db.now(lease_seconds))
        .returning(*ROTATIONS.c, db.now().label("database_now"), *map(db.qualified, also))
    )


def take(session: Session, rotation_id: str, owner: str, also: tuple[ColumnElement[Any], ...] = ()) -> Any:
    """Inside the caller's transaction: take the lease if it is free or expired (or already `owner`'s), and return
    the row as it is now (a detached SecretRotation: not in the session, its changes written by explicit statements
    only), the database's time and the `also` expressions (subqueries over the row, so the caller reads what it
    needs in this statement: each is built once, so the statement is cached), in one statement; None if someone
    else holds it or the row is gone. The lease is held once the caller's transaction commits."""
    found = session.execute(_take_statement(lease_seconds(), also), {"p_id": rotation_id, "p_owner": owner}).first()
    if found is None:
        return None
    width = len(_COLUMN_KEYS)
    return (_detached_row(dict(zip(_COLUMN_KEYS, found[:width], strict=True))), *found[width:])


_COLUMN_KEYS = tuple(ROTATIONS.c.keys())
_NEW_ROTATION = class_mapper(SecretRotation).class_manager.new_instance


def _detached_row(values: dict[str, Any]) -> SecretRotation:
    """A SecretRotation of these column values, made as the ORM makes a row it loads (SQLModel's constructor sends
    every field through an instrumented setattr: 15 times the CPU), then detached: as if loaded, so a later
    session.add would update the row, never insert it."""
    rotation = _NEW_ROTATION()
    rotation.__dict__.update(values)
    make_transient_to_detached(rotation)
    return rotation


def leased_row(session: Session, rotation_id: str, owner: str) -> SecretRotation:
    """`extend`, and the row as it is now, in one statement; LeaseLost if the lease is gone."""
    statement = _leased_row_statement(lease_seconds())
    found = session.execute(statement, {"p_id": rotation_id, "p_owner": owner}).first()
    if found is None:
        raise LeaseLost(f"lost the lease of rotation {rotation_id}")
    return found[0]


def write_leased(session: Session, rotation_id: str, owner: str, values: dict[str, Any]) -> datetime:
    """Inside the caller's transaction: write `values` to the row only if we still hold its lease, renewing it
    (and locking the row) in the same statement. Returns the database's time; LeaseLost if the lease is gone.

    `values` may set `lease_owner=None, lease_expires_at=None`: the write is then also the lease's release."""
    database_now, *_ = write_leased_reading(session, rotation_id, owner, values, ())
    return cast(datetime, database_now)


def write_leased_reading(
    session: Session, rotation_id: str, owner: str, values: dict[str, Any], also: tuple[ColumnElement[Any], ...]
) -> tuple[Any, ...]:
    """`write_leased`, also returning the `also` expressions (subqueries over the row, each built once so the
    statement stays cached) after the database's time: what the caller's transaction reads next, read in the
    statement that writes the row rather than in statements of their own."""
    plain, expressions, params = db.split_values({"lease_expires_at": _expires(), **values})
    params.update(p_id=rotation_id, p_owner=owner)
    found = session.execute(_write_statement(plain, expressions, True, also), params).first()
    if found is None:
        raise LeaseLost(f"lost the lease of rotation {rotation_id}")
    return tuple(found)


def released() -> dict[str, Any]:
    """The values that give a lease back, for `write_leased`."""
    return {"lease_owner": None, "lease_expires_at": None}


def renew(rotation_id: str, owner: str) -> bool:
    with db.unit_of_work() as session:
        return extend(session, rotation_id, owner)


def release_in(session: Session, rotation_id: str, owner: str) -> None:
    """Inside the caller's transaction: give the lease back if it is still ours."""
    plain, expressions, params = db.split_values(released())
    params.update(p_id=rotation_id, p_owner=owner)
    session.execute(_write_statement(plain, expressions, False), params)


def release(rotation_id: str, owner: str) -> None:
    try:
        with db.unit_of_work() as session:
            release_in(session, rotation_id, owner)
    except Exception:  # an unreleased lease expires on its own
        log.warning("could not release the lease of rotation %s; it will expire", rotation_id, exc_info=True)


def is_held(rotation: SecretRotation) -> bool:
    """Whether someone holds the rotation's lease now: asked of the database (its row and its clock), not of
    the possibly stale `rotation` object and this process's clock."""
    statement = select(R.id).where(R.id == rotation.id, _held())
    with db.unit_of_work() as session:
        return session.execute(statement).first() is not None
