"""Publish a verified key, or record how a rotation attempt failed, each in one transaction under the lease
(§6.2 step 4, §6.3)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session, select

from app import db
from app.auth.principal import Principal
from app.config import get_settings
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.models.sealed import ROTATION_MESSAGE
from app.rotation import lease, revocations, schedule
from app.rotation.messages import clip
from app.rotation.retry import MAX_SCHEDULED_ATTEMPTS, backoff_seconds
from app.store import audit
from app.store import secrets as secrets_store
from app.timeutil import utcnow

log = logging.getLogger("keyturn.rotation")

ACTIVE, INACTIVE = CredentialState.ACTIVE, CredentialState.INACTIVE
ROTATE_EVENT = "secret-rotation-rotate-secrets"
PLATFORM = "platform"  # the audit actor of scheduled rotations


class LeaseLost(Exception):
    """Our lease lapsed (the heartbeat could not renew it): someone else may be working on the rotation."""


def _leased_row(session: Session, rotation_id: str, owner: str) -> SecretRotation:
    if not lease.extend(session, rotation_id, owner):
        raise LeaseLost(f"lost the lease of rotation {rotation_id}")
    return session.get(SecretRotation, rotation_id, populate_existing=True)


def audit_event(session: Session, actor: Principal | str, event: str, rotation: SecretRotation, **metadata) -> None:
    """An audit row about the rotation, in the caller's transaction (never a key or a failure message)."""
    audit.record(
        session,
        actor=actor,
        event=event,
        project_id=rotation.project_id,
        resource_type="secret-rotation",
        resource_id=rotation.id,
        metadata={"name": rotation.name, "type": rotation.type, **metadata},
    )


def publish(
    rotation_id: str,
    owner: str,
    cred_id: str,
    api_key: str,
    *,
    manual: bool,
    job_id: str | None,
    actor: Principal | str = PLATFORM,
) -> tuple[SecretRotation, list[str]]:
    """Publish the verified key: secret value and version, slots, rotation fields. Returns the row and the
    ids of credentials queued for revocation (the key from two generations back)."""
    settings = get_settings()
    with Session(db.engine(), expire_on_commit=False) as session:
        rotation = _leased_row(session, rotation_id, owner)
        now = utcnow()
        new = session.get(RotationCredential, cred_id, populate_existing=True)
        if new is None or new.state != CredentialState.MINTED:
            raise RuntimeError(f"credential {cred_id} is no longer waiting to be published")
        secrets = secrets_store.secrets_of_rotation(session, rotation_id)
        if not secrets:
            raise RuntimeError(f"rotation {rotation_id} has no mapped secret")
        live = session.exec(
            select(RotationCredential).where(
                RotationCredential.rotation_id == rotation_id, RotationCredential.state.in_([ACTIVE, INACTIVE])
            )
        ).all()
        previous = max((c for c in live if c.state == ACTIVE), key=lambda c: c.generation, default=None)
        queued: list[str] = []
        for cred in live:
            if cred is previous:
                cred.state = INACTIVE
            else:  # the key from two generations back (and any stray): §6.2 step 5
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
        audit_event(
            session,
            actor,
            ROTATE_EVENT,
            rotation,
            status="success",
            manual=manual,
            generation=new.generation,
            jobId=job_id,
        )
        session.commit()
    log.info("rotation %s published generation %s (slot %s)", rotation_id, new.generation, target)
    return rotation, queued


def record_failure(
    rotation_id: str,
    owner: str,
    *,
    manual: bool,
    job_id: str | None,
    text: str,
    retry_after: float | None = None,
    generation: int | None = None,
    actor: Principal | str = PLATFORM,
) -> SecretRotation:
    """A failed attempt. Manual, or the last scheduled attempt: final (status failed, next day per §7 rule 2).
    Otherwise: count it and retry after a backoff, keeping nextRotationAt."""
    settings = get_settings()
    with Session(db.engine(), expire_on_commit=False) as session:
        rotation = _leased_row(session, rotation_id, owner)
        now = utcnow()
        attempts = rotation.failed_attempts + 1
        rotation.last_rotation_attempted_at = rotation.updated_at = now
        rotation.last_rotation_message = ROTATION_MESSAGE.seal(rotation_id, clip(text))
        rotation.last_rotation_job_id = job_id
        final = manual or attempts >= MAX_SCHEDULED_ATTEMPTS
        if final:
            rotation.rotation_status = "failed"
            rotation.is_last_rotation_manual = manual
            rotation.failed_attempts = 0
            rotation.retry_not_before = None
            rotation.next_rotation_at = schedule.for_rotation(
                rotation, now=now, unit_seconds=settings.interval_unit_seconds
            )
        else:
            rotation.failed_attempts = attempts
            delay = backoff_seconds(
                attempts,
                base=settings.rotation_retry_base_seconds,
                cap=settings.rotation_retry_max_seconds,
                retry_after=retry_after,
            )
            rotation.retry_not_before = now + timedelta(seconds=delay)
        session.add(rotation)
        audit_event(
            session,
            actor,
            ROTATE_EVENT,
            rotation,
            status="failed",
            manual=manual,
            generation=generation,
            final=final,
            attempt=attempts,
            jobId=job_id,
        )
        session.commit()
    log.warning("rotation %s: attempt %s failed (%s)", rotation_id, attempts, "final" if final else "will retry")
    return rotation


def note_revocation_failure(rotation_id: str, owner: str, cred_id: str) -> None:
    """The rotation succeeded but the old key's revocation failed: say so; the queue keeps retrying (§14e.5)."""
    with Session(db.engine(), expire_on_commit=False) as session:
        rotation = _leased_row(session, rotation_id, owner)
        cred = session.get(RotationCredential, cred_id)
        text = (
            f"The new key was published, but revoking the previous key {cred.key_name} failed; "
            f"it stays queued for revocation: {cred.last_error or 'unknown error'}"
        )
        rotation.last_rotation_message = ROTATION_MESSAGE.seal(rotation_id, clip(text))
        session.add(rotation)
        session.commit()
