"""Close open intents whose run did not finish (rotation §14e.3).

A `pending` intent's mint outcome is unknown: list the provider's keys and look for its exact name. The name
is unique per rotation and generation, so clocks do not decide a match; only a key created hours before its
own intent is refused, loudly. Every match is adopted and queued for revocation (the first in the intent's
row, each further one in a copy row), because a listed key's plaintext can never be recovered.

A miss closes nothing at once. A listing can miss a key (pages shift while keys are created or deleted
mid-scan, as the key API specs warn), and a create that timed out on our side may still be landing. So a
listing counts against an intent only once the intent is older than the grace period, and only when it is
due: NEGATIVE_SCANS such listings, each at least a third of the grace after the one before, abandon it.
Three scans a third of the grace apart: one missed sighting needs a concurrent change to the page ahead of
the key during that very scan, and the spacing (70 s by default, longer than a many-page scan takes) makes
three such misses in a row independent events; it costs two thirds of a grace more before an intent with no
key is closed, and closing such an intent is bookkeeping, not a leak.

A `minted` intent holds a key that was never published: it is queued for revocation.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from app import db
from app.backoff import backoff_seconds
from app.config import get_settings
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.providers.base import ListedKey, ProviderError
from app.rotation import lease
from app.rotation.intents import add_extra_key, database_time, transition
from app.rotation.messages import clip
from app.rotation.upstream import ConnectionUnavailable, for_connection

log = logging.getLogger("keyturn.reconcile")

# A key created this long before its own intent cannot be that intent's, whatever the clocks say.
MATCH_BOUND = timedelta(hours=6)
NEGATIVE_SCANS = 3
PENDING, MINTED, REVOKING = CredentialState.PENDING, CredentialState.MINTED, CredentialState.REVOKING
ADOPTED = "adopted after an interrupted or ambiguous mint; its plaintext is lost, so it is revoked"
EXTRA = "another key under this generation's name (a repeated create); revoked"
UNPUBLISHED = "minted but never published; revoked"


def matches(cred: RotationCredential, listed: list[ListedKey]) -> list[ListedKey]:
    """Every listed key carrying the intent's exact name, each key once."""
    found: dict[str, ListedKey] = {}
    for key in listed:
        if key.name != cred.key_name or key.key_id in found:
            continue
        if key.created_at is not None and key.created_at < cred.created_at - MATCH_BOUND:
            log.warning(
                "key %s carries the name of intent g%s of rotation %s but was created at %s, hours before the"
                " intent (%s): not adopted. Check this host's clock, and revoke the key by hand if it is ours.",
                key.key_id[:12],
                cred.generation,
                cred.rotation_id,
                key.created_at.isoformat(),
                cred.created_at.isoformat(),
            )
            continue
        found[key.key_id] = key
    return list(found.values())


def _grace() -> timedelta:
    return timedelta(seconds=get_settings().intent_grace)


def reconcile(cred_ids: list[str]) -> None:
    """Reconcile these credential rows; the caller made sure no live run still owns them."""
    pending_by_connection: dict[str, list[RotationCredential]] = defaultdict(list)
    with db.unit_of_work() as session:
        creds = session.exec(select(RotationCredential).where(col(RotationCredential.id).in_(cred_ids))).all()
        for cred in creds:
            if cred.state == MINTED:
                transition(
                    session,
                    cred.id,
                    [MINTED],
                    state=REVOKING,
                    slot=None,
                    revoke_not_before=db.now(),
                    last_error=UNPUBLISHED,
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
    now = database_time(session)  # ages and due times on the database's clock, as every process sees them
    for cred in pending:
        found = matches(cred, listed)
        if found:
            _adopt(session, cred, found, now)
        else:
            _missed(session, cred, now)


def _adopt(session: Session, cred: RotationCredential, found: list[ListedKey], now: datetime) -> None:
    first, *extra = found
    if not transition(
        session, cred.id, [PENDING], key_id=first.key_id, state=REVOKING, revoke_not_before=now, last_error=ADOPTED
    ):
        return  # closed meanwhile by its run or another reconciler, which then owns what it found
    for key in extra:
        add_extra_key(session, cred, key.key_id, EXTRA, now)
    log.info(
        "adopted %s key(s) named for intent g%s of rotation %s (%s); revocation queued",
        len(found),
        cred.generation,
        cred.rotation_id,
        ", ".join(key.key_id[:12] for key in found),
    )


def _missed(session: Session, cred: RotationCredential, now: datetime) -> None:
    """The listing did not show the intent's key: count it only if it was due and the intent is past its grace.

    `now` is the database's time, so the spacing between scans is the same whichever process runs them."""
    grace = _grace()
    if cred.created_at > now - grace:
        # Too young to rule out a create still landing at the provider: look again after the grace.
        transition(session, cred.id, [PENDING], revoke_not_before=cred.created_at + grace)
        return
    if cred.revoke_not_before is not None and cred.revoke_not_before > now:
        return  # too soon after the last negative scan to count as another (e.g. a rotate-now reconciling)
    scans = cred.negative_scans + 1
    if scans < NEGATIVE_SCANS:
        transition(session, cred.id, [PENDING], negative_scans=scans, revoke_not_before=now + grace / NEGATIVE_SCANS)
        log.info(
            "intent g%s of rotation %s: no key at the provider (scan %s of %s); looking again later",
            cred.generation,
            cred.rotation_id,
            scans,
            NEGATIVE_SCANS,
        )
        return
    transition(
        session, cred.id, [PENDING], state=CredentialState.ABANDONED, negative_scans=scans, revoke_not_before=None
    )
    log.info(
        "abandoned intent g%s of rotation %s: no key at the provider in %s scans",
        cred.generation,
        cred.rotation_id,
        scans,
    )


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
            revoke_not_before=db.now(delay),
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
    """Open intents whose rotation is not leased (or no longer exists) and that no live run can still own.

    A `pending` one waits out the grace period: its create may still be landing. A `minted` one of an existing
    rotation needs no grace: only the lease holder publishes it, so once the lease lapses its run is gone. A
    `minted` one with no rotation row belongs to a create in progress (which holds no lease): it waits too.
    Ages and leases are judged by the database's clock, in the query, so a worker whose clock runs fast
    does not see a live run's intent as old or its lease as lapsed."""
    grace = _grace().total_seconds() if grace_seconds is None else grace_seconds
    statement = (
        select(col(RotationCredential.id))
        .join(SecretRotation, col(SecretRotation.id) == col(RotationCredential.rotation_id), isouter=True)
        .where(
            col(RotationCredential.state).in_([PENDING, MINTED]),
            or_(
                col(RotationCredential.created_at) <= db.now(-grace),
                and_(col(RotationCredential.state) == MINTED, col(SecretRotation.id).is_not(None)),
            ),
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
