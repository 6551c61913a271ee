"""Publish a verified key in one transaction under the lease (rotation §6.2 step 4): the secret's new value and
version, the credential slots, the rotation's fields and the audit row."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app import db
from app.auth.principal import Principal
from app.config import get_settings
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.rotation import audit_events, holds, lease, revocations, schedule
from app.rotation.intents import database_time, transition
from app.store import secrets as secrets_store
from app.timeutil import utcnow

log = logging.getLogger("keyturn.rotation")

MINTED, ACTIVE, INACTIVE = CredentialState.MINTED, CredentialState.ACTIVE, CredentialState.INACTIVE


class PublishConflict(RuntimeError):
    """A credential this publish moves was moved by someone else first (a reconciler or the revocation drain
    that took a paused run for dead): the publish rolls back and nothing is published."""


def _move(session: Session, cred_id: str, expected: str, **values: Any) -> None:
    if not transition(session, cred_id, [expected], **values):
        raise PublishConflict(f"credential {cred_id} is no longer {expected}; nothing was published")


def _unpublished_at(cred: RotationCredential, previous: RotationCredential | None, now: datetime) -> datetime:
    """When a key this publish supersedes stopped being published: an inactive key when the current one was
    published (a time its publisher's clock wrote), anything else `now`, the database's time (the conservative
    answer): the revocation drain compares not-before times with the database's clock (issue 10, A5)."""
    if cred.state == INACTIVE and previous is not None and previous.published_at is not None:
        return previous.published_at
    return now


def new_key(
    rotation_id: str,
    owner: str,
    cred_id: str,
    api_key: str,
    *,
    manual: bool,
    job_id: str | None,
    actor: Principal | str = audit_events.PLATFORM,
) -> tuple[SecretRotation, list[str]]:
    """Publish the verified key: secret value and version, slots, rotation fields. Every credential it moves
    is a compare-and-set on its state; PublishConflict (and nothing published) if one was moved meanwhile.
    Returns the row and the ids of credentials queued for revocation that are due at once (the key from two
    generations back, once the minimum overlap since it stopped being published has passed; in `when-unused`
    mode the previous key, queued from now). Each queued key records when its revocation fell due (the hold
    clock of app.rotation.holds), and the rotation when its new key's expiry makes it due."""
    settings = get_settings()
    with db.unit_of_work() as session:
        rotation = lease.leased_row(session, rotation_id, owner)
        now = utcnow()
        secrets = secrets_store.secrets_of_rotation(session, rotation_id)
        if not secrets:
            raise RuntimeError(f"rotation {rotation_id} has no mapped secret")
        live = session.exec(
            select(RotationCredential).where(
                RotationCredential.rotation_id == rotation_id,
                col(RotationCredential.state).in_([ACTIVE, INACTIVE]),
                col(RotationCredential.id) != cred_id,
            )
        ).all()
        previous = max((c for c in live if c.state == ACTIVE), key=lambda c: c.generation, default=None)
        database_now = database_time(session)
        keep_previous = not holds.queues_previous_at_publish(rotation)
        due_now: list[str] = []
        for cred in live:
            if cred is previous and keep_previous:
                _move(session, cred.id, ACTIVE, state=INACTIVE, superseded_at=database_now)
                continue
            # The key from two generations back (and any stray): rotation §6.2 step 5, after the minimum overlap.
            # In `when-unused` mode the previous key too, from now (issue 12).
            not_before = revocations.superseded_not_before(rotation, _unpublished_at(cred, previous, database_now))
            superseded_at = database_now if cred.state == ACTIVE else None
            if not revocations.queue(
                session, cred.id, [cred.state], not_before=not_before, superseded_at=superseded_at
            ):
                raise PublishConflict(f"credential {cred.id} is no longer {cred.state}; nothing was published")
            if not_before <= database_now:
                due_now.append(cred.id)
        target = (rotation.active_index + 1) % 2
        _move(session, cred_id, MINTED, state=ACTIVE, slot=target, published_at=now)
        published = session.get_one(RotationCredential, cred_id, populate_existing=True)
        generation = published.generation
        rotation.expiry_due_at = schedule.expiry_due_at(
            published.expires_at, rotation.rotation_interval, settings.interval_unit_seconds
        )
        for secret in secrets:
            secrets_store.set_value(session, secret, api_key, generation=generation)
        rotation.active_index = target
        rotation.last_rotated_at = rotation.last_rotation_attempted_at = rotation.updated_at = now
        rotation.rotation_status = "success"
        rotation.last_rotation_message = None
        rotation.is_last_rotation_manual = manual
        rotation.last_rotation_job_id = job_id
        rotation.failed_attempts = 0
        rotation.retry_not_before = None
        rotation.next_rotation_at = schedule.for_rotation(
            rotation, now=now, manual=manual, unit_seconds=settings.interval_unit_seconds
        )
        session.add(rotation)
        audit_events.record(
            session,
            actor,
            audit_events.ROTATE_EVENT,
            rotation,
            status="success",
            manual=manual,
            generation=generation,
            jobId=job_id,
        )
    log.info("rotation %s published generation %s (slot %s)", rotation_id, generation, target)
    return rotation, due_now
