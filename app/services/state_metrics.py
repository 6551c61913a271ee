"""The state gauges of GET /metrics, read from the database at scrape time, so every replica reports the same
values whichever process did the work: each rotation's last success, next due time and failure; the revocation
queue; open intents; lagging consumers; worker heartbeats.

Rotations are labelled by id, name and project id only. A handful of statements per scrape, none per rotation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import Session

from app import db
from app.config import get_settings
from app.models.credential import CredentialState
from app.models.tables import CREDENTIALS, ROTATIONS
from app.store import consumers, worker_heartbeats

log = logging.getLogger("keyturn.metrics")

ROTATION_LABELS = ["rotation_id", "name", "project"]
R, C = ROTATIONS.c, CREDENTIALS.c
HELD = C.held_since.is_not(None)


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class StateCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = _gauge("keyturn_state_up", "1 when the state gauges could be read from the database.")
        try:
            with db.unit_of_work() as session:
                families = list(_families(session))
        except Exception as exc:  # noqa: BLE001 - the work metrics are still worth serving without the database
            log.warning("metrics: could not read the state from the database (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _families(session: Session) -> Iterator[GaugeMetricFamily]:
    now: datetime = session.execute(select(db.now())).scalar_one()
    rotations = session.execute(
        select(
            R.id,
            R.name,
            R.project_id,
            R.last_rotated_at,
            R.next_rotation_at,
            R.rotation_status,
            R.is_auto_rotation_enabled,
            R.rotation_interval,
            R.revocation_max_hold_seconds,
        ).order_by(R.id)
    ).all()
    labels = {row.id: [row.id, row.name, row.project_id] for row in rotations}
    yield from _rotation_families(rotations, labels)
    yield from _revocation_families(session, now, {row.id: row for row in rotations}, labels)
    intents = _gauge("keyturn_intents_open", "Intents whose mint outcome is not settled yet, by state.", ["state"])
    counts = dict(
        session.execute(
            select(C.state, func.count())
            .where(C.state.in_([CredentialState.PENDING, CredentialState.MINTED]))
            .group_by(C.state)
        ).all()
    )
    for state in (CredentialState.PENDING, CredentialState.MINTED):
        intents.add_metric([state.value], counts.get(state, 0))
    yield intents
    lagging = _gauge(
        "keyturn_consumers_lagging",
        "Identities that keep a superseded key of the rotation in use (they have not read the current one).",
        ["rotation_id"],
    )
    for rotation_id, count in sorted(consumers.lagging_counts(session).items()):
        lagging.add_metric([rotation_id], count)
    yield lagging
    beats = _gauge(
        "keyturn_worker_last_heartbeat_timestamp_seconds",
        "When each running rotation worker last beat (the database's clock).",
        ["worker_id"],
    )
    for worker_id, beat_at in worker_heartbeats.last_beats(session):
        beats.add_metric([worker_id], beat_at.timestamp())
    yield beats


def _rotation_families(rotations: Sequence[Any], labels: dict[str, list[str]]) -> Iterator[GaugeMetricFamily]:
    last = _gauge(
        "keyturn_rotation_last_success_timestamp_seconds", "When the rotation last published a key.", ROTATION_LABELS
    )
    due = _gauge("keyturn_rotation_next_due_timestamp_seconds", "When the rotation is next due.", ROTATION_LABELS)
    failed = _gauge("keyturn_rotation_failed", "1 when the rotation's last attempt failed.", ROTATION_LABELS)
    interval = _gauge(
        "keyturn_rotation_interval_seconds",
        "The rotation's interval, for rotations that rotate on a schedule.",
        ROTATION_LABELS,
    )
    unit_seconds = get_settings().interval_unit_seconds
    for row in rotations:
        last.add_metric(labels[row.id], row.last_rotated_at.timestamp())
        if row.next_rotation_at is not None:
            due.add_metric(labels[row.id], row.next_rotation_at.timestamp())
        failed.add_metric(labels[row.id], 1 if row.rotation_status == "failed" else 0)
        if row.is_auto_rotation_enabled:
            interval.add_metric(labels[row.id], row.rotation_interval * unit_seconds)
    yield from (last, due, failed, interval)


def _revocation_families(
    session: Session, now: datetime, rotations: dict[str, Any], labels: dict[str, list[str]]
) -> Iterator[GaugeMetricFamily]:
    queued = C.state == CredentialState.REVOKING
    counts = dict(session.execute(select(HELD, func.count()).where(queued).group_by(HELD)).all())
    pending = _gauge("keyturn_revocations_pending", "Keys queued for revocation and not held.")
    pending.add_metric([], counts.get(False, 0))
    held = _gauge("keyturn_revocations_held", "Queued revocations held while their key is in use.")
    held.add_metric([], counts.get(True, 0))
    oldest_due = session.execute(
        select(func.min(C.revoke_due_at)).where(queued, ~HELD, C.revoke_due_at <= db.now())
    ).scalar_one()
    oldest = _gauge(
        "keyturn_revocation_oldest_pending_seconds",
        "How long the oldest revocation that is due and not held has waited (0: none).",
    )
    oldest.add_metric([], 0 if oldest_due is None else max(0.0, (now - oldest_due).total_seconds()))
    yield from (pending, held, oldest)
    held_for = _gauge(
        "keyturn_revocation_held_seconds",
        "How long the rotation's longest-held revocation has been held, counted from when it was first due.",
        ROTATION_LABELS,
    )
    max_hold = _gauge(
        "keyturn_revocation_max_hold_seconds",
        "The rotation's maxHoldSeconds, for rotations with a held revocation.",
        ROTATION_LABELS,
    )
    for rotation_id, since in session.execute(
        select(C.rotation_id, func.min(func.coalesce(C.revoke_due_at, C.held_since)))
        .where(queued, HELD)
        .group_by(C.rotation_id)
        .order_by(C.rotation_id)
    ).all():
        row = rotations.get(rotation_id)
        if row is None:
            continue  # the rotation was deleted: its keys are revoked without holds
        held_for.add_metric(labels[rotation_id], max(0.0, (now - since).total_seconds()))
        max_hold.add_metric(labels[rotation_id], row.revocation_max_hold_seconds)
    yield from (held_for, max_hold)
