"""Close open intents whose run did not finish (keyturn §14e.3).

A `pending` intent's mint outcome is unknown: list the provider's keys and look for its exact name,
created at or after the intent (less some clock skew). A match is adopted and queued for revocation,
because a listed key's plaintext can never be recovered. No match closes the intent as abandoned, but
only once it is older than the grace period: a create that timed out on our side may still be landing
at the provider, so a young intent with no match stays pending and is looked at again later.
A `minted` intent holds a key that was never published: it is queued for revocation.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from app import db
from app.config import get_settings
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.providers.base import ListedKey, ProviderError
from app.rotation import lease
from app.rotation.intents import transition
from app.rotation.messages import clip
from app.rotation.retry import backoff_seconds
from app.rotation.upstream import ConnectionUnavailable, for_connection
from app.timeutil import utcnow

log = logging.getLogger("keyturn.reconcile")

CLOCK_SKEW = timedelta(minutes=1)
PENDING, MINTED, REVOKING = CredentialState.PENDING, CredentialState.MINTED, CredentialState.REVOKING
ADOPTED = "adopted after an interrupted or ambiguous mint; its plaintext is lost, so it is revoked"
UNPUBLISHED = "minted but never published; revoked"


def match(cred: RotationCredential, listed: list[ListedKey]) -> ListedKey | None:
    not_before = cred.created_at - CLOCK_SKEW
    for key in listed:
        if key.name == cred.key_name and (key.created_at is None or key.created_at >= not_before):
            return key
    return None


def _grace() -> timedelta:
    return timedelta(seconds=get_settings().intent_grace)


def reconcile(cred_ids: list[str]) -> None:
    """Reconcile these credential rows; the caller made sure no live run still owns them."""
    now = utcnow()
    pending_by_connection: dict[str, list[RotationCredential]] = defaultdict(list)
    with db.unit_of_work() as session:
        creds = session.exec(select(RotationCredential).where(col(RotationCredential.id).in_(cred_ids))).all()
        for cred in creds:
            if cred.state == MINTED:
                transition(
                    session, cred.id, [MINTED], state=REVOKING, slot=None, revoke_not_before=now, last_error=UNPUBLISHED
                )
                log.info(
                    "queued unpublished key %s of rotation %s for revocation",
                    (cred.key_id or "")[:12],
                    cred.rotation_id,
                )
            elif cred.state == PENDING:
                pending_by_connection[cred.connection_id].append(cred)
    # One transaction per connection: what one provider's listing settled stays settled if the next fails.
    for connection_id, pending in pending_by_connection.items():
        with db.unit_of_work() as session:
            _resolve_pending(session, connection_id, pending)


def _resolve_pending(session: Session, connection_id: str, pending: list[RotationCredential]) -> None:
    try:
        listed = for_connection(session, connection_id).list_keys()
    except (ProviderError, ConnectionUnavailable) as exc:
        message = exc.message if isinstance(exc, ProviderError) else str(exc)
        _postpone(session, pending, f"reconciliation could not list keys: {message}")
        return
    now = utcnow()
    for cred in pending:
        found = match(cred, listed)
        if found is not None:
            transition(
                session,
                cred.id,
                [PENDING],
                key_id=found.key_id,
                state=REVOKING,
                revoke_not_before=now,
                last_error=ADOPTED,
            )
            log.info(
                "adopted key %s for intent g%s of rotation %s; revocation queued",
                found.key_id[:12],
                cred.generation,
                cred.rotation_id,
            )
        elif cred.created_at > now - _grace():
            # Too young to rule out a create still landing at the provider: look again after the grace.
            transition(session, cred.id, [PENDING], revoke_not_before=cred.created_at + _grace())
        else:
            transition(session, cred.id, [PENDING], state=CredentialState.ABANDONED, revoke_not_before=None)
            log.info("abandoned intent g%s of rotation %s: no key at the provider", cred.generation, cred.rotation_id)


def _postpone(session: Session, pending: list[RotationCredential], message: str) -> None:
    """Listing failed: try again later, with backoff, so a provider outage is not hammered every poll."""
    settings = get_settings()
    for cred in pending:
        attempts = cred.revoke_attempts + 1
        delay = backoff_seconds(
            attempts, base=settings.revoke_retry_base_seconds, cap=settings.revoke_retry_max_seconds
        )
        transition(
            session,
            cred.id,
            [PENDING],
            revoke_attempts=attempts,
            last_error=clip(message),
            revoke_not_before=utcnow() + timedelta(seconds=delay),
        )
    log.warning("reconciliation of %s intent(s) postponed: %s", len(pending), message)


def open_intents_of(rotation_id: str) -> list[str]:
    statement = select(RotationCredential.id).where(
        RotationCredential.rotation_id == rotation_id, col(RotationCredential.state).in_([PENDING, MINTED])
    )
    with db.unit_of_work() as session:
        return list(session.exec(statement).all())


def reconcile_rotation(rotation_id: str) -> None:
    """Under the rotation's lease: close whatever an earlier holder left open."""
    ids = open_intents_of(rotation_id)
    if ids:
        reconcile(ids)


def abandoned_intents(grace_seconds: float | None = None) -> list[str]:
    """Open intents older than the grace period whose rotation is not leased (or no longer exists).

    Ages and leases are judged by the database's clock, in the query, so a worker whose clock runs fast
    does not see a live run's intent as old or its lease as lapsed."""
    grace = _grace().total_seconds() if grace_seconds is None else grace_seconds
    statement = (
        select(col(RotationCredential.id))
        .join(SecretRotation, col(SecretRotation.id) == col(RotationCredential.rotation_id), isouter=True)
        .where(
            col(RotationCredential.state).in_([PENDING, MINTED]),
            col(RotationCredential.created_at) <= db.now(-grace),
            or_(
                col(RotationCredential.revoke_not_before).is_(None),
                col(RotationCredential.revoke_not_before) <= db.now(),
            ),
            or_(col(SecretRotation.id).is_(None), lease.free()),
        )
    )
    with db.unit_of_work() as session:
        return list(session.exec(statement).all())


def reconcile_abandoned(grace_seconds: float | None = None) -> int:
    ids = abandoned_intents(grace_seconds)
    if ids:
        reconcile(ids)
    return len(ids)
