"""Publish a verified key in one transaction under the lease (rotation §6.2 step 4): the secret's new value and
version, the credential slots, the rotation's fields and the audit row."""

from __future__ import annotations

import logging

from sqlmodel import col, select

from app import db
from app.auth.principal import Principal
from app.config import get_settings
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.rotation import audit_events, lease, revocations, schedule
from app.store import secrets as secrets_store
from app.timeutil import utcnow

log = logging.getLogger("keyturn.rotation")

ACTIVE, INACTIVE = CredentialState.ACTIVE, CredentialState.INACTIVE


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
    """Publish the verified key: secret value and version, slots, rotation fields. Returns the row and the
    ids of credentials queued for revocation (the key from two generations back)."""
    settings = get_settings()
    with db.unit_of_work() as session:
        rotation = lease.leased_row(session, rotation_id, owner)
        now = utcnow()
        new = session.get(RotationCredential, cred_id, populate_existing=True)
        if new is None or new.state != CredentialState.MINTED:
            raise RuntimeError(f"credential {cred_id} is no longer waiting to be published")
        secrets = secrets_store.secrets_of_rotation(session, rotation_id)
        if not secrets:
            raise RuntimeError(f"rotation {rotation_id} has no mapped secret")
        live = session.exec(
            select(RotationCredential).where(
                RotationCredential.rotation_id == rotation_id, col(RotationCredential.state).in_([ACTIVE, INACTIVE])
            )
        ).all()
        previous = max((c for c in live if c.state == ACTIVE), key=lambda c: c.generation, default=None)
        queued: list[str] = []
        for cred in live:
            if cred is previous:
                cred.state = INACTIVE
            else:  # the key from two generations back (and any stray): rotation §6.2 step 5
                revocations.queue(cred, now)
                queued.append(cred.id)
            session.add(cred)
        target = (rotation.active_index + 1) % 2
        new.state, new.slot, new.published_at = ACTIVE, target, now
        session.add(new)
        for secret in secrets:
            secrets_store.set_value(session, secret, api_key)
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
            generation=new.generation,
            jobId=job_id,
        )
    log.info("rotation %s published generation %s (slot %s)", rotation_id, new.generation, target)
    return rotation, queued
