"""Record what went wrong, each in one transaction under the lease: a failed rotation attempt (rotation §6.3) and
a published rotation whose old key could not be revoked (rotation §14e.5)."""

from __future__ import annotations

import logging
from datetime import timedelta

from app import db
from app.auth.principal import Principal
from app.backoff import backoff_seconds
from app.config import get_settings
from app.models import RotationCredential, SecretRotation
from app.models.sealed import ROTATION_MESSAGE
from app.rotation import audit_events, lease, notices, schedule
from app.rotation.messages import clip
from app.rotation.retry import MAX_SCHEDULED_ATTEMPTS
from app.rotation.revocations import Claimed
from app.timeutil import utcnow
from app.webhooks.events import FailureCategory

log = logging.getLogger("keyturn.rotation")


def record_failed_attempt(
    rotation_id: str,
    owner: str,
    *,
    manual: bool,
    job_id: str | None,
    text: str,
    category: FailureCategory,
    retry_after: float | None = None,
    generation: int | None = None,
    actor: Principal | str = audit_events.PLATFORM,
) -> SecretRotation:
    """Manual, or the last scheduled attempt: final (status failed, next day per rotation §7 rule 2), and
    `secrets.rotation-failed` with `category`. Otherwise: count it and retry after a backoff, keeping
    nextRotationAt."""
    settings = get_settings()
    with db.unit_of_work() as session:
        rotation = lease.leased_row(session, rotation_id, owner)
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
        audit_events.record(
            session,
            actor,
            audit_events.ROTATE_EVENT,
            rotation,
            status="failed",
            manual=manual,
            generation=generation,
            final=final,
            attempt=attempts,
            jobId=job_id,
        )
        if final:
            notices.rotation_failed(session, rotation, manual=manual, category=category)
    log.warning("rotation %s: attempt %s failed (%s)", rotation_id, attempts, "final" if final else "will retry")
    return rotation


def note_failed_revocation(rotation: SecretRotation, owner: str, entry: Claimed) -> SecretRotation | None:
    """The rotation succeeded but the old key's revocation failed: say so; the queue keeps retrying.

    Returns the updated row, or None when the note could not be written (the lease was lost meanwhile, say):
    the new key is published either way, so this never fails the rotation."""
    try:
        with db.unit_of_work() as session:
            last_error = session.get_one(RotationCredential, entry.id).last_error
            text = (
                f"The new key was published, but revoking the previous key {entry.key_name} failed; "
                f"it stays queued for revocation: {last_error or 'unknown error'}"
            )
            message = ROTATION_MESSAGE.seal(rotation.id, clip(text))
            lease.write_leased(session, rotation.id, owner, {"last_rotation_message": message})
    except Exception:
        log.warning(
            "rotation %s: could not note the failed revocation of credential %s; it stays queued",
            rotation.id,
            entry.id,
            exc_info=True,
        )
        return None
    rotation.last_rotation_message = message
    return rotation
