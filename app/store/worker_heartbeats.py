"""Worker heartbeats: written by each rotation worker, read by readiness checks and the metrics scrape.

Every time is the database's, written and compared in SQL, so hosts whose clocks disagree still agree on how old
a beat is."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlmodel import Session

from app import db
from app.models import WorkerHeartbeat
from app.models.tables import table_of

# A worker killed without a word leaves its row; another worker's beat drops it after this long.
FORGET_AFTER_SECONDS = 86400.0

_TABLE = table_of(WorkerHeartbeat)


def beat(session: Session, worker_id: str) -> None:
    """Record that `worker_id` is alive now (its row is created on its first beat)."""
    now = db.now()
    updated = cast(
        CursorResult[Any], session.execute(update(_TABLE).where(_TABLE.c.id == worker_id).values(beat_at=now))
    )
    if updated.rowcount == 0:
        session.execute(insert(_TABLE).values(id=worker_id, started_at=now, beat_at=now))
    session.execute(delete(_TABLE).where(_TABLE.c.beat_at < db.now(-FORGET_AFTER_SECONDS)))


def forget(session: Session, worker_id: str) -> None:
    """A worker that stops cleanly takes its row with it."""
    session.execute(delete(_TABLE).where(_TABLE.c.id == worker_id))


def newest_age_seconds(session: Session) -> float | None:
    """Seconds since the most recent beat of any worker, by the database's clock; None if no worker ever beat."""
    newest, now = session.execute(select(func.max(_TABLE.c.beat_at), db.now())).one()
    return None if newest is None else (now - newest).total_seconds()


def last_beats(session: Session) -> list[tuple[str, datetime]]:
    """(worker id, last beat) of every worker that has not stopped cleanly, oldest row first."""
    rows = session.execute(select(_TABLE.c.id, _TABLE.c.beat_at).order_by(_TABLE.c.started_at)).all()
    return [(row.id, row.beat_at) for row in rows]
