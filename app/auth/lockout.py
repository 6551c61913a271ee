"""The login lockout counter (identity §6.6), kept in the UA row and changed only by conditional UPDATEs.

An attempt takes its place in the counter *before* its hash check, with one UPDATE that adds 1 only while the
identity is not locked and the counter is below the threshold. The counter therefore holds the failures plus the
checks still running, and however many wrong guesses arrive at once, at most `lockout_threshold` hash checks run
per window; the others are refused as locked without hashing. An attempt whose check fails was counted already:
it locks the identity once the counter has reached the threshold. One that passes clears the counter.

For attempts one after another this is the rule of identity §6.6: the third wrong secret in a row (by default) sets the
lock and still answers `Invalid credentials`; the next answers the locked message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, inspect, literal, or_, update
from sqlmodel import Session, col

from app import clock
from app.models import UniversalAuth


def _moment(value: Any) -> Any:
    """Bind a time with the column's own type (SQLite keeps naive UTC, PostgreSQL timestamps)."""
    return literal(value, type_=inspect(UniversalAuth).columns["locked_until"].type)


def reserve(session: Session, ua: UniversalAuth) -> bool:
    """Count this attempt before its hash check; False when the identity is locked (nothing is counted).

    An expired counter starts again from 1. The UPDATE's WHERE is the whole decision, so parallel attempts cannot
    all read "not locked" and pass together."""
    if not ua.lockout_enabled:
        return True
    now = clock.now()
    counter = col(UniversalAuth.lockout_counter)
    expires_at = col(UniversalAuth.lockout_counter_expires_at)
    locked_until = col(UniversalAuth.locked_until)
    expired = or_(expires_at.is_(None), expires_at <= now)
    result = cast(
        CursorResult[Any],
        session.execute(
            update(UniversalAuth)
            .where(
                col(UniversalAuth.id) == ua.id,
                or_(locked_until.is_(None), locked_until <= now),
                or_(expired, counter < UniversalAuth.lockout_threshold),
            )
            .values(
                lockout_counter=case((expired, 1), else_=counter + 1),
                lockout_counter_expires_at=_moment(now + timedelta(seconds=ua.lockout_counter_reset_seconds)),
            )
        ),
    )
    return result.rowcount == 1


def settle_failure(session: Session, ua: UniversalAuth) -> None:
    """A reserved attempt failed its check: lock once the counter has reached the threshold, and reset it."""
    if not ua.lockout_enabled:
        return
    session.execute(
        update(UniversalAuth)
        .where(
            col(UniversalAuth.id) == ua.id,
            col(UniversalAuth.lockout_counter) >= UniversalAuth.lockout_threshold,
        )
        .values(
            locked_until=_moment(clock.now() + timedelta(seconds=ua.lockout_duration_seconds)),
            lockout_counter=0,
            lockout_counter_expires_at=None,
        )
    )


def clear(session: Session, ua_id: str) -> None:
    """A login passed its check: the lockout record is deleted (the counter and any lock)."""
    session.execute(
        update(UniversalAuth)
        .where(col(UniversalAuth.id) == ua_id)
        .values(lockout_counter=0, lockout_counter_expires_at=None, locked_until=None)
    )
