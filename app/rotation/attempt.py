"""The first unit of work of a rotation attempt: take the lease, check that the run is still wanted, and record
the intent (rotation §14e step 1), all in one transaction that commits before the provider is called.

Taking the lease reads the row in the same statement (UPDATE ... RETURNING), so the run neither re-reads it
nor commits the lease on its own: the intent and the lease become durable together, and a crash before that
commit leaves neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, exists, select, update
from sqlmodel import Session

from app import db
from app.models import SecretRotation
from app.models.credential import CredentialState
from app.models.tables import CONNECTIONS, CREDENTIALS, ROTATIONS
from app.rotation import lease, schedule
from app.rotation.intents import Intent, insert_intent
from app.rotation.upstream import ConnectionUnavailable, Upstream, from_columns
from app.timeutil import utcnow

OPEN = [CredentialState.PENDING, CredentialState.MINTED]


@dataclass
class Begun:
    """What `begin` found. `rotation` is None when the lease could not be taken (someone else holds it, or the
    row is gone); otherwise the lease is ours and exactly one of the rest says what to do next."""

    rotation: SecretRotation | None = None
    not_due: bool = False  # disabled or rescheduled since it was claimed (rotation §14f)
    open_intents: list[str] | None = None  # an earlier holder left these: reconcile, then `begin` again
    unavailable: str | None = None  # the connection is gone or unknown: a failed attempt
    cred: Intent | None = None  # the committed intent
    upstream: Upstream | None = None


def still_due(rotation: SecretRotation) -> bool:
    """The worker's due rule (lease._due_and_free) on the row as read: a key about to expire makes the rotation
    due even with auto-rotation off."""
    now = utcnow()
    scheduled = (
        rotation.is_auto_rotation_enabled and rotation.next_rotation_at is not None and rotation.next_rotation_at <= now
    )
    expiring = rotation.expiry_due_at is not None and rotation.expiry_due_at <= now
    return (scheduled or expiring) and (rotation.retry_not_before is None or rotation.retry_not_before <= now)


# Built once: they run on every rotation.
_OPEN_INTENTS = select(CREDENTIALS.c.id).where(
    CREDENTIALS.c.rotation_id == bindparam("p_rotation"), CREDENTIALS.c.state.in_(OPEN)
)
# Read in the statement that takes the lease, not in two more: whether an earlier holder left an intent open, and
# the connection's two columns the provider call needs.
_ALSO = (
    exists().where(CREDENTIALS.c.rotation_id == ROTATIONS.c.id, CREDENTIALS.c.state.in_(OPEN)),
    *(
        select(column).where(CONNECTIONS.c.id == ROTATIONS.c.connection_id).scalar_subquery()
        for column in (CONNECTIONS.c.app, CONNECTIONS.c.encrypted_credentials)
    ),
)
_NEXT_GENERATION = (
    update(ROTATIONS)
    .where(ROTATIONS.c.id == bindparam("p_rotation"))
    .values(next_generation=ROTATIONS.c.next_generation + 1)
)


def _open_intents(session: Session, rotation_id: str) -> list[str]:
    return list(session.execute(_OPEN_INTENTS, {"p_rotation": rotation_id}).scalars().all())


def begin(rotation_id: str, owner: str, *, manual: bool, reconciled: bool = False) -> Begun:
    """Take the lease (or re-take the one `owner` holds) and, if the run should go on, commit its intent.

    `reconciled`: the caller already reconciled what an earlier holder left open, so open intents are not
    looked for again (a young pending one may rightly stay open)."""
    with db.unit_of_work() as session:
        taken = lease.take(session, rotation_id, owner, _ALSO)
        if taken is None:
            return Begun()
        rotation, _, left_open, app, encrypted_credentials = taken  # `rotation` is detached: the caller's copy
        if not manual and not still_due(rotation):
            return Begun(rotation, not_due=True)
        if left_open and not reconciled:
            return Begun(rotation, open_intents=_open_intents(session, rotation_id))
        try:
            upstream = from_columns(rotation.connection_id, app, encrypted_credentials)
        except ConnectionUnavailable as exc:
            return Begun(rotation, unavailable=str(exc))  # the lease still commits: the failure is recorded under it
        cred = _record_intent(session, rotation, upstream)
    return Begun(rotation, cred=cred, upstream=upstream)


def _record_intent(session: Session, rotation: SecretRotation, upstream: Upstream) -> Intent:
    minted_at = utcnow()
    intent = insert_intent(
        session,
        rotation_id=rotation.id,
        connection_id=rotation.connection_id,
        provider=upstream.app_slug,
        generation=rotation.next_generation,
        base_name=rotation.parameters["name"],
        now=minted_at,
        credential_fingerprint=upstream.fingerprint,
        expires_at=schedule.key_expires_at(minted_at, rotation.revocation_key_lifetime_seconds),
    )
    # Never reused, even if this attempt fails (rotation §14c).
    session.execute(_NEXT_GENERATION, {"p_rotation": rotation.id})
    rotation.next_generation += 1
    return intent
