"""The worker's webhook sender: claims due deliveries, posts them outside any transaction, records the outcome.

Claiming pushes a delivery's `next_attempt_at` past the attempt (by the database's clock) and stamps it with a
claim token in one conditional UPDATE, so several workers share the due rows instead of sending one twice; the
outcome is written only while the claim is still ours. A worker that dies mid-send leaves its rows claimed until
the claim lapses, then another sends them: delivery is at least once, and the event id lets receivers dedupe.
A failure is retried with backoff (KEYTURN_WEBHOOK_RETRY_BASE_SECONDS doubling up to ..._MAX_SECONDS) until the
row's `give_up_at`, 24 h after its event; a delivery whose webhook was disabled meanwhile is cancelled unsent."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, case, select, update
from sqlmodel import Session

from app import db
from app.backoff import backoff_seconds
from app.config import Settings
from app.crypto import DecryptionError
from app.models import Webhook, WebhookDelivery
from app.models.base import new_id
from app.models.sealed import WEBHOOK_SECRET_KEY, WEBHOOK_URL
from app.models.tables import WEBHOOK_DELIVERIES, WEBHOOKS
from app.models.webhook import DeliveryStatus
from app.timeutil import utcnow
from app.webhooks import delivery
from app.webhooks.delivery import Outcome

log = logging.getLogger("keyturn.webhooks")

D = WEBHOOK_DELIVERIES.c
PENDING = DeliveryStatus.PENDING
BATCH = 16  # deliveries claimed at once
CONCURRENCY = 4  # posts in flight at once: one slow receiver does not hold up the others


def claim_seconds(settings: Settings) -> float:
    """How long a claim lasts: the lease length, and never less than a post can take."""
    return max(settings.lease_seconds, delivery.TIMEOUT_SECONDS + 5)


def _due():
    return (D.status == PENDING, D.next_attempt_at <= db.now())


def claim(settings: Settings, limit: int = BATCH) -> tuple[str, list[str]]:
    """Claim up to `limit` due deliveries, oldest first; returns the claim token and the ids claimed. As the
    rotation claim (app.rotation.lease.claim_due): SKIP LOCKED on PostgreSQL, one statement on SQLite, and the
    UPDATE re-checks that each row is still due."""
    owner = new_id()
    due = select(D.id).where(*_due()).order_by(D.next_attempt_at).limit(limit)
    take = (
        update(WEBHOOK_DELIVERIES)
        .where(*_due())
        .values(next_attempt_at=db.now(claim_seconds(settings)), claimed_by=owner)
        .returning(D.id)
    )
    with db.unit_of_work() as session:
        if db.is_sqlite(db.engine()):
            return owner, list(session.execute(take.where(D.id.in_(due))).scalars().all())
        chosen = list(session.execute(due.with_for_update(skip_locked=True)).scalars().all())
        return owner, list(session.execute(take.where(D.id.in_(chosen))).scalars().all()) if chosen else []


UNDECRYPTABLE = "the webhook's URL or secret key cannot be decrypted with the current root keys"


@dataclass(frozen=True)
class _Claimed:
    delivery: WebhookDelivery
    url: str | None  # None: the webhook's sealed columns cannot be opened
    secret_key: str | None


def _load(delivery_id: str, owner: str) -> _Claimed | None:
    """The claimed row with its webhook's URL and key opened; None if it is not ours any more or was cancelled."""
    with db.unit_of_work() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None or row.claimed_by != owner or row.status != PENDING:
            return None
        hook = session.get_one(Webhook, row.webhook_id)  # the foreign key cascades: the row goes with its webhook
        if hook.is_disabled:
            _finish(session, delivery_id, owner, status=DeliveryStatus.CANCELLED, last_error="the webhook is disabled")
            return None
        try:
            url = WEBHOOK_URL.open(hook.id, hook.encrypted_url)
            key = WEBHOOK_SECRET_KEY.open(hook.id, hook.encrypted_secret_key) if hook.encrypted_secret_key else None
        except DecryptionError:
            return _Claimed(row, None, None)
        return _Claimed(row, url, key)


def _finish(session: Session, delivery_id: str, owner: str, **values) -> bool:
    statement = (
        update(WEBHOOK_DELIVERIES)
        .where(D.id == delivery_id, D.claimed_by == owner, D.status == PENDING)
        .values(claimed_by=None, **values)
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def deliver(settings: Settings, delivery_id: str, owner: str) -> Outcome | None:
    """Send one claimed delivery and record the outcome; None when there was nothing to send."""
    claimed = _load(delivery_id, owner)
    if claimed is None:
        return None
    row = claimed.delivery
    if claimed.url is None:
        outcome = Outcome(None, UNDECRYPTABLE)
    else:
        outcome = delivery.post(
            claimed.url,
            row.body,
            secret_key=claimed.secret_key,
            event_id=row.event_id,
            timestamp_ms=row.occurred_at_ms,
            allow_private=settings.webhook_allow_private,
        )
    record(settings, row, owner, outcome)
    return outcome


def record(settings: Settings, row: WebhookDelivery, owner: str, outcome: Outcome) -> None:
    """The attempt's outcome on the delivery (while the claim is ours) and on its webhook's last status."""
    attempts = row.attempts + 1
    common: dict[str, Any] = {
        "attempts": attempts,
        "last_response_code": outcome.status_code,
        "last_attempt_at": utcnow(),
    }
    if outcome.ok:
        values: dict[str, Any] = {
            **common,
            "status": DeliveryStatus.DELIVERED,
            "last_error": None,
            "delivered_at": utcnow(),
        }
    else:
        cap = settings.webhook_retry_max_seconds
        retry_after = min(outcome.retry_after, cap) if outcome.retry_after is not None else None
        delay = backoff_seconds(attempts, base=settings.webhook_retry_base_seconds, cap=cap, retry_after=retry_after)
        retry_at = db.now(delay)
        values = {
            **common,
            "last_error": outcome.error,
            "next_attempt_at": retry_at,
            # The last attempt is the one whose retry would fall after the window.
            "status": case((D.give_up_at < retry_at, DeliveryStatus.FAILED), else_=PENDING),
        }
    with db.unit_of_work() as session:
        if not _finish(session, row.id, owner, **values):
            log.info("webhook delivery %s: the claim lapsed before the outcome was recorded", row.id)
            return
        session.execute(
            update(WEBHOOKS)
            .where(WEBHOOKS.c.id == row.webhook_id)
            .values(last_status="success" if outcome.ok else "failed", last_run_error_message=outcome.error)
        )
    if outcome.ok:
        log.info("webhook delivery %s (%s, event %s) delivered", row.id, row.event, row.event_id)
    else:
        log.warning("webhook delivery %s (%s) attempt %s failed: %s", row.id, row.event, attempts, outcome.error)


class Sender:
    """Claims and sends due deliveries, a few at a time in parallel; run by the worker in a thread of its own so a
    slow receiver never delays a rotation."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="keyturn-webhook")

    def run_once(self) -> int:
        """One claim and its sends; returns how many were claimed (a full batch means more may be due)."""
        owner, claimed = claim(self.settings)
        list(self._pool.map(lambda delivery_id: self._deliver(delivery_id, owner), claimed))
        return len(claimed)

    def _deliver(self, delivery_id: str, owner: str) -> None:
        try:
            deliver(self.settings, delivery_id, owner)
        except Exception:  # a database blip: the claim lapses and the delivery is tried again
            log.exception("webhook delivery %s raised", delivery_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
