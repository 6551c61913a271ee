"""The durable revocation queue (rotation §14e.4): credential rows in state `revoking`.

An entry is retried with backoff until the provider confirms the key is gone (404 counts), is never
dropped, and outlives its rotation. Each attempt first claims the row by pushing its not-before time
forward, so two workers do not revoke the same key at once.

Not-before times are written and compared on the database's clock (`db.now`, issue 10 A5): a worker whose
clock runs fast neither revokes a key before its overlap has passed nor backs off longer than it should.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, or_, update
from sqlmodel import Session, col, select

from app import db
from app.config import get_settings
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.providers.base import ProviderError
from app.rotation import holds, killpoint
from app.rotation.intents import transition
from app.rotation.messages import clip
from app.rotation.retry import backoff_seconds
from app.rotation.upstream import ConnectionUnavailable, for_connection
from app.timeutil import utcnow

log = logging.getLogger("keyturn.revocations")

REVOKING = CredentialState.REVOKING


def queue(
    session: Session,
    cred_id: str,
    from_states: list[str],
    *,
    not_before: datetime,
    reason: str | None = None,
    superseded_at: datetime | None = None,
) -> bool:
    """Inside the caller's transaction: move a credential out of one of `from_states` into the queue, due at
    `not_before`, which also starts its hold clock (`revoke_due_at`, app.rotation.holds). `superseded_at`: for a
    key queued straight from active. False if someone else moved it first."""
    values: dict[str, Any] = {
        "state": REVOKING,
        "slot": None,
        "revoke_not_before": not_before,
        "revoke_due_at": not_before,
    }
    if superseded_at is not None:
        values["superseded_at"] = superseded_at
    if reason is not None:
        values["last_error"] = clip(reason)
    return transition(session, cred_id, from_states, **values)


def superseded_not_before(rotation: SecretRotation, unpublished_at: datetime) -> datetime:
    """The earliest a key that stopped being published at `unpublished_at` may be revoked: a consumer that
    read it just before keeps a working key for the minimum overlap (issue 10, B8). The one place that
    says how long: the rotation's own `revocation.minOverlapSeconds` (rotation §14k)."""
    return unpublished_at + timedelta(seconds=rotation.revocation_min_overlap_seconds)


def _claim(session: Session, cred_id: str, *, force: bool = False) -> bool:
    due = () if force else (_due(),)
    statement = (
        update(RotationCredential)
        .where(col(RotationCredential.id) == cred_id, col(RotationCredential.state) == REVOKING, *due)
        .values(revoke_not_before=db.now(get_settings().lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def _due() -> ColumnElement[bool]:
    return or_(
        col(RotationCredential.revoke_not_before).is_(None), col(RotationCredential.revoke_not_before) <= db.now()
    )


def attempt(cred_id: str, *, force: bool = False) -> bool | None:
    """Try one revocation now. True: revoked. False: failed, stays queued with backoff. None: not due, or held
    while its key is in use (app.rotation.holds).

    `force` (an emergency rotation, app.rotation.emergency): revoke now whatever the entry's not-before says (its
    overlap, a backoff, another worker's claim) and whatever would hold it; None then only if it left the queue.
    A second DELETE racing another worker's is harmless: the provider's 404 counts as revoked."""
    with db.unit_of_work() as session:
        claimed = _claim(session, cred_id, force=force)
    if not claimed:
        return None
    # The claim is committed before the provider DELETE, so no other worker revokes the key meanwhile.
    with db.unit_of_work() as session:
        cred, rotation = holds.load(session, cred_id)
        if cred.key_id is None:  # nothing was ever created under this name
            transition(session, cred_id, [REVOKING], state=CredentialState.ABANDONED, revoke_not_before=None)
            return True
        key_id = cred.key_id
        verdict = None
        try:
            upstream = for_connection(session, cred.connection_id)
            if rotation is not None and not force and holds.applies(cred, rotation):
                verdict = holds.check(session, rotation, cred, upstream)
                if verdict.hold:
                    transition(session, cred_id, [REVOKING], **verdict.values)
                    log.info("revocation of key %s held: %s", key_id[:12], verdict.values["hold_reason"])
                    return None
            upstream.revoke(key_id, minted_with=cred.credential_fingerprint)  # a 404 counts only under its own key
        except (ProviderError, ConnectionUnavailable) as exc:
            message = exc.message if isinstance(exc, ProviderError) else str(exc)
            return _record_failure(session, cred, message, getattr(exc, "retry_after", None))
        except Exception as exc:  # a bug or a database outage must not drop the entry
            log.exception("revocation of key %s raised", key_id[:12])
            return _record_failure(session, cred, f"internal error ({type(exc).__name__})", None)
        killpoint.reached("during_revoke")
        transition(
            session,
            cred_id,
            [REVOKING],
            state=CredentialState.REVOKED,
            revoked_at=utcnow(),
            encrypted_key=None,
            revoke_not_before=None,
            **(verdict.values if verdict is not None else {}),
        )
        if verdict is not None and verdict.forced and rotation is not None:
            holds.record_forced(session, rotation, cred, verdict)
    log.info("revoked key %s (rotation %s, generation %s)", key_id[:12], cred.rotation_id, cred.generation)
    return True


def _record_failure(session: Session, cred: RotationCredential, message: str, retry_after: float | None) -> bool:
    """In the attempt's transaction: count the failure and back off."""
    settings = get_settings()
    attempts = cred.revoke_attempts + 1
    delay = backoff_seconds(
        attempts,
        base=settings.revoke_retry_base_seconds,
        cap=settings.revoke_retry_max_seconds,
        retry_after=retry_after,
    )
    transition(
        session,
        cred.id,
        [REVOKING],
        revoke_attempts=attempts,
        last_error=clip(message),
        revoke_not_before=db.now(delay),
    )
    log.warning(
        "revocation of key %s failed (attempt %s, retry in %.0fs): %s",
        (cred.key_id or "")[:12],
        attempts,
        delay,
        message,
    )
    return False


def due(limit: int = 50) -> list[str]:
    statement = (
        select(RotationCredential.id)
        .where(col(RotationCredential.state) == REVOKING, _due())
        .order_by(col(RotationCredential.revoke_not_before))
        .limit(limit)
    )
    with db.unit_of_work() as session:
        return list(session.exec(statement).all())


def drain(limit: int = 50) -> int:
    """Attempt every due revocation once; returns how many were confirmed."""
    done = 0
    for cred_id in due(limit):
        if attempt(cred_id):
            done += 1
    return done
