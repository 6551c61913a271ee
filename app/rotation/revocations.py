"""The durable revocation queue (rotation §14e.4): credential rows in state `revoking`.

An entry is retried with backoff until the provider confirms the key is gone (404 counts), is never
dropped, and outlives its rotation. Each attempt first claims the row by pushing its not-before time
forward, so two workers do not revoke the same key at once.

Not-before times are written and compared on the database's clock (`db.now`, issue 10 A5): a worker whose
clock runs fast neither revokes a key before its overlap has passed nor backs off longer than it should.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Update, bindparam, or_, update
from sqlmodel import Session, col, select

from app import db, metrics
from app.backoff import backoff_seconds
from app.config import get_settings
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.models.tables import CREDENTIALS
from app.providers.base import ProviderError
from app.rotation import holds, killpoint, notices
from app.rotation.intents import transition
from app.rotation.messages import clip
from app.rotation.upstream import ConnectionUnavailable, Upstream, for_connection
from app.timeutil import utcnow
from app.webhooks.events import FailureCategory, category_of_status

log = logging.getLogger("keyturn.revocations")

REVOKING = CredentialState.REVOKING
C = CREDENTIALS.c  # Core columns: queue statements skip the ORM (app.models.tables)


@dataclass(frozen=True)
class Claimed:
    """A queue entry this process has claimed (its not-before pushed past the attempt): what revoking it needs."""

    id: str
    rotation_id: str
    generation: int
    key_name: str
    key_id: str | None
    connection_id: str
    provider: str
    credential_fingerprint: str | None
    revoke_attempts: int

    @classmethod
    def of(cls, row: Any) -> Claimed:
        return cls(**{name: getattr(row, name) for name in CLAIMED_FIELDS})


CLAIMED_FIELDS = tuple(f.name for f in fields(Claimed))
CLAIMED_COLUMNS = tuple(CREDENTIALS.c[name] for name in CLAIMED_FIELDS)


def _claim_until() -> ColumnElement[Any]:
    """A claimed entry's not-before: no other worker tries it while this one does (its lease length)."""
    return db.now(get_settings().lease_seconds)


def queue(
    session: Session,
    cred_id: str,
    from_states: list[str],
    *,
    not_before: datetime,
    reason: str | None = None,
    superseded_at: datetime | None = None,
    claim: bool = False,
) -> bool:
    """Inside the caller's transaction: move a credential out of one of `from_states` into the queue, due at
    `not_before`, which also starts its hold clock (`revoke_due_at`, app.rotation.holds), or (`claim`, for an entry
    due already) claimed for the caller to revoke once this commits. `superseded_at`: for a key queued straight
    from active. False if someone else moved it first."""
    values: dict[str, Any] = {
        "state": REVOKING,
        "slot": None,
        "revoke_not_before": _claim_until() if claim else not_before,
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


def _claim(session: Session, cred_id: str, *, force: bool = False) -> Claimed | None:
    """Push a due entry's not-before forward (any entry's, `force`) and read what revoking it needs, in one
    statement."""
    row = session.execute(_claim_statement(get_settings().lease_seconds, force), {"p_id": cred_id}).first()
    return None if row is None else Claimed.of(row)


@functools.lru_cache(maxsize=8)
def _claim_statement(lease_seconds: float, force: bool) -> Update:
    """Built once per lease length: the drain runs it for every queued key."""
    due = () if force else (_due(),)
    return (
        update(CREDENTIALS)
        .where(C.id == bindparam("p_id"), C.state == REVOKING, *due)
        .values(revoke_not_before=db.now(lease_seconds))
        .returning(*CLAIMED_COLUMNS)
    )


def _due() -> ColumnElement[bool]:
    return or_(C.revoke_not_before.is_(None), C.revoke_not_before <= db.now())


def attempt(cred_id: str, *, force: bool = False) -> bool | None:
    """Try one revocation now. True: revoked. False: failed, stays queued with backoff. None: not due, or held
    while its key is in use (app.rotation.holds).

    `force` (an emergency rotation, app.rotation.emergency): revoke now whatever the entry's not-before says (its
    overlap, a backoff, another worker's claim) and whatever would hold it; None then only if it left the queue.
    A second DELETE racing another worker's is harmless: the provider's 404 counts as revoked."""
    with db.unit_of_work() as session:
        claimed = _claim(session, cred_id, force=force)
    if claimed is None:
        return None
    # The claim is committed before the provider DELETE, so no other worker revokes the key meanwhile.
    return revoke_claimed(claimed, force=force)


def revoke_claimed(
    entry: Claimed,
    *,
    upstream: Upstream | None = None,
    then: Callable[[Session], None] | None = None,
    force: bool = False,
    may_hold: bool = True,
) -> bool | None:
    """Revoke an entry this process claimed. True: revoked (and `then(session)` ran in the commit that records
    it). False: failed, stays queued with backoff. None: held while its key is in use (app.rotation.holds).

    `upstream`: the provider side already open for the entry's connection (the run that minted the next key);
    otherwise the connection is read in the commit that records the outcome. `may_hold`: False when the caller
    knows the rotation does not hold keys in use (its row is at hand), which spares reading it here."""
    if upstream is not None and upstream.connection_id != entry.connection_id:
        upstream = None
    with db.unit_of_work() as session:
        if entry.key_id is None:  # nothing was ever created under this name
            transition(session, entry.id, [REVOKING], state=CredentialState.ABANDONED, revoke_not_before=None)
            if then is not None:
                then(session)
            return True
        key_id = entry.key_id
        verdict = cred = rotation = None
        try:
            upstream = upstream or for_connection(session, entry.connection_id)
            if may_hold and not force:
                cred, rotation = holds.load(session, entry.id)
                if rotation is not None and holds.applies(cred, rotation):
                    verdict = holds.check(session, rotation, cred, upstream)
                    if verdict.hold:
                        transition(session, entry.id, [REVOKING], **verdict.values)
                        if cred.held_since is None:  # the hold begins: said once, not at every re-check
                            holds.notify_held(session, rotation, cred, verdict)
                        log.info("revocation of key %s held: %s", key_id[:12], verdict.values["hold_reason"])
                        return None
            upstream.revoke(key_id, minted_with=entry.credential_fingerprint)  # a 404 counts only under its own key
        except ProviderError as exc:
            category = category_of_status(exc.status, retryable=exc.retryable)
            return _record_failure(session, entry, exc.message, category, exc.retry_after)
        except ConnectionUnavailable as exc:
            return _record_failure(session, entry, str(exc), FailureCategory.CONNECTION_UNAVAILABLE, None)
        except Exception as exc:  # a bug or a database outage must not drop the entry
            log.exception("revocation of key %s raised", key_id[:12])
            message = f"internal error ({type(exc).__name__})"
            return _record_failure(session, entry, message, FailureCategory.INTERNAL_ERROR, None)
        killpoint.reached("during_revoke")
        transition(
            session,
            entry.id,
            [REVOKING],
            state=CredentialState.REVOKED,
            revoked_at=utcnow(),
            encrypted_key=None,
            revoke_not_before=None,
            **(verdict.values if verdict is not None else {}),
        )
        if verdict is not None and verdict.forced and rotation is not None and cred is not None:
            holds.record_forced(session, rotation, cred, verdict)
        if then is not None:
            then(session)
    log.info("revoked key %s (rotation %s, generation %s)", key_id[:12], entry.rotation_id, entry.generation)
    return True


def _record_failure(
    session: Session, cred: Claimed, message: str, category: FailureCategory, retry_after: float | None
) -> bool:
    """In the attempt's transaction: count the failure, back off, and tell webhooks (the first time, then hourly)."""
    metrics.REVOCATION_FAILURES.labels(cred.provider).inc()
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
    notices.revocation_failed(
        session, cred.id, cred.rotation_id, generation=cred.generation, attempts=attempts, category=category
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
