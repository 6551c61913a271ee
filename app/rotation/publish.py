"""Publish a verified key in one transaction under the lease (rotation §6.2 step 4): the secret's new value and
version, the credential slots, the rotation's fields and the audit row."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlmodel import Session

from app import db
from app.auth.principal import Principal
from app.config import get_settings
from app.models import SecretRotation
from app.models.credential import CredentialState
from app.models.tables import CREDENTIALS, ROTATIONS
from app.rotation import audit_events, holds, lease, notices, revocations, schedule
from app.rotation.intents import Intent, transition
from app.store import secrets as secrets_store
from app.timeutil import utcnow
from app.webhooks import outbox

log = logging.getLogger("keyturn.rotation")

MINTED, ACTIVE, INACTIVE = CredentialState.MINTED, CredentialState.ACTIVE, CredentialState.INACTIVE


class PublishConflict(RuntimeError):
    """A credential this publish moves was moved by someone else first (a reconciler or the revocation drain
    that took a paused run for dead): the publish rolls back and nothing is published."""


C = CREDENTIALS.c
# The rotation's other published keys, with what revoking one needs (built once: it runs on every publish).
_LIVE = select(*revocations.CLAIMED_COLUMNS, C.state, C.published_at).where(
    C.rotation_id == bindparam("p_rotation"), C.state.in_([ACTIVE, INACTIVE]), C.id != bindparam("p_new")
)

# Read by the statement that re-checks the lease and writes the rotation's row, not by two more: the ids of the
# secrets it maps, and whether any webhook of its scope is enabled.
_ALSO = (
    secrets_store.ids_mapped_by(ROTATIONS.c.id),
    outbox.any_listening(ROTATIONS.c.project_id, ROTATIONS.c.environment_id),
)


def _move(session: Session, cred_id: str, expected: str, **values: Any) -> None:
    if not transition(session, cred_id, [expected], **values):
        raise PublishConflict(f"credential {cred_id} is no longer {expected}; nothing was published")


def _unpublished_at(state: str, previous: Row[Any] | None, now: datetime) -> datetime:
    """When a key this publish supersedes stopped being published: an inactive key when the current one was
    published (a time its publisher's clock wrote), anything else `now`, the database's time (the conservative
    answer): the revocation drain compares not-before times with the database's clock (issue 10, A5)."""
    if state == INACTIVE and previous is not None and previous.published_at is not None:
        return previous.published_at
    return now


def _published_fields(
    rotation: SecretRotation, cred: Intent, now: datetime, *, manual: bool, job_id: str | None
) -> dict[str, Any]:
    """The rotation's columns after `cred` is published."""
    unit_seconds = get_settings().interval_unit_seconds
    fields: dict[str, Any] = {
        "active_index": (rotation.active_index + 1) % 2,
        "last_rotated_at": now,
        "last_rotation_attempted_at": now,
        "updated_at": now,
        "rotation_status": "success",
        "last_rotation_message": None,
        "is_last_rotation_manual": manual,
        "last_rotation_job_id": job_id,
        "failed_attempts": 0,
        "retry_not_before": None,
    }
    # The schedule as it stands after this publish: succeeded now, manual or not.
    fields["next_rotation_at"] = schedule.next_rotation_at(
        enabled=rotation.is_auto_rotation_enabled,
        failed=False,
        manual=manual,
        last_rotated_at=now,
        last_attempted_at=now,
        interval=rotation.rotation_interval,
        hours=rotation.rotate_at_hours,
        minutes=rotation.rotate_at_minutes,
        now=now,
        unit_seconds=unit_seconds,
    )
    fields["expiry_due_at"] = schedule.expiry_due_at(cred.expires_at, rotation.rotation_interval, unit_seconds)
    return fields


def new_key(
    rotation: SecretRotation,
    owner: str,
    cred: Intent,
    api_key: str,
    *,
    manual: bool,
    job_id: str | None,
    actor: Principal | str = audit_events.PLATFORM,
) -> list[revocations.Claimed]:
    """Publish the verified key `cred` of `rotation` (the row as this lease holder read it): secret value and
    version, slots, rotation fields, in one transaction that first re-checks the lease. Every credential it moves
    is a compare-and-set on its state; PublishConflict (and nothing published) if one was moved meanwhile.

    Returns the credentials queued for revocation that are due at once (the key from two generations back, once
    the minimum overlap since it stopped being published has passed; in `when-unused` mode the previous key, queued
    from now), already claimed for this run to revoke. Each queued key records when its revocation fell due (the
    hold clock of app.rotation.holds), and the rotation when its new key's expiry makes it due. When
    there are none, the same commit gives the lease back. `rotation` is updated to the published state."""
    rotation_id = rotation.id
    now = utcnow()
    fields = _published_fields(rotation, cred, now, manual=manual, job_id=job_id)
    with db.unit_of_work() as session:
        live = session.execute(_LIVE, {"p_rotation": rotation_id, "p_new": cred.id}).all()
        previous = max((c for c in live if c.state == ACTIVE), key=lambda c: c.generation, default=None)
        # `when-unused` mode queues the previous key too, from now (issue 12); `scheduled` keeps it valid.
        kept = previous if not holds.queues_previous_at_publish(rotation) else None
        superseded = [c for c in live if c is not kept]
        # The lease is re-checked (and the row locked) first. With nothing to revoke after this commit, the same
        # write gives the lease back.
        database_now, joined_secret_ids, any_listening = lease.write_leased_reading(
            session, rotation_id, owner, {**fields, **({} if superseded else lease.released())}, _ALSO
        )
        if kept is not None:
            _move(session, kept.id, ACTIVE, state=INACTIVE, superseded_at=database_now)
        due_now: list[revocations.Claimed] = []
        for stale in superseded:
            # The key from two generations back (and any stray): rotation §6.2 step 5, after the minimum overlap.
            not_before = revocations.superseded_not_before(
                rotation, _unpublished_at(stale.state, previous, database_now)
            )
            due = not_before <= database_now
            superseded_at = database_now if stale.state == ACTIVE else None
            # One due now is claimed for this run at once (as the drain's claim would), so no drain takes it meanwhile.
            if not revocations.queue(
                session, stale.id, [stale.state], not_before=not_before, superseded_at=superseded_at, claim=due
            ):
                raise PublishConflict(f"credential {stale.id} is no longer {stale.state}; nothing was published")
            if due:
                due_now.append(revocations.Claimed.of(stale))
        if superseded and not due_now:
            lease.release_in(session, rotation_id, owner)  # the drain revokes them later: nothing left under the lease
        _move(session, cred.id, MINTED, state=ACTIVE, slot=fields["active_index"], published_at=now)
        secret_ids = secrets_store.split_ids(joined_secret_ids)
        if not secrets_store.set_values(session, secret_ids, api_key, generation=cred.generation):
            raise RuntimeError(f"rotation {rotation_id} has no mapped secret")  # rolls back: nothing published
        for name, value in fields.items():
            setattr(rotation, name, value)  # a detached copy: nothing here is flushed
        audit_events.record(
            session,
            actor,
            audit_events.ROTATE_EVENT,
            rotation,
            status="success",
            manual=manual,
            generation=cred.generation,
            jobId=job_id,
        )
        notices.rotation_succeeded(
            session, rotation, generation=cred.generation, manual=manual, any_listening=any_listening
        )
    log.info("rotation %s published generation %s (slot %s)", rotation_id, cred.generation, rotation.active_index)
    return due_now
