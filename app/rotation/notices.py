"""The rotation core's webhook events, each written in the transaction of the change it reports
(app.webhooks.outbox): nothing is sent for a change that rolled back, nothing lost for one that committed.

The payloads name the rotation, the key's generation and why, never a key, a key id or a provider's text."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, or_, update
from sqlmodel import Session

from app import db
from app.models import RotationCredential, SecretRotation
from app.models.tables import CREDENTIALS
from app.rotation import audit_events
from app.timeutil import iso
from app.webhooks import outbox
from app.webhooks.events import Event, FailureCategory, failure_fields, rotation_fields

C = CREDENTIALS.c
REVOCATION_FAILURE_REPEAT_SECONDS = 3600  # a revocation that keeps failing is reported again this often
PLATFORM = "platform"  # changedByActorType of rotation-driven changes
_MODIFIED_FIELDS = {"changedByActorType": PLATFORM}  # `secrets.modified` from the rotation core
# Why a key was revoked before its time (`keys.revocation-forced`).
EMERGENCY = "emergency"
MAX_HOLD = "max-hold"


def claimed(session: Session, statement: Update) -> bool:
    """Whether a conditional UPDATE of one row took it: the one writer of a notice among workers racing to."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def rotation_succeeded(
    session: Session, rotation: SecretRotation, *, generation: int, manual: bool, any_listening: bool
) -> None:
    """A new key is published: `secrets.rotation-succeeded`, and `secrets.modified` for the mapped secret (one
    look-up of the webhooks for both, and none when the publish read that no webhook listens: this runs on every
    publish)."""
    succeeded = rotation_fields(
        rotation, generation=generation, triggeredManually=manual, trigger=audit_events.trigger(manual=manual)
    )
    outbox.emit_many(
        session,
        [(Event.ROTATION_SUCCEEDED, succeeded), (Event.SECRETS_MODIFIED, _MODIFIED_FIELDS)],
        project_id=rotation.project_id,
        environment_id=rotation.environment_id,
        secret_path=rotation.secret_path,
        any_listening=any_listening,
    )


def secret_modified(session: Session, rotation: SecretRotation) -> None:
    """Infisical's `secrets.modified`: the rotation's folder changed; who changed it is the platform."""
    outbox.emit(
        session,
        Event.SECRETS_MODIFIED,
        project_id=rotation.project_id,
        environment_id=rotation.environment_id,
        secret_path=rotation.secret_path,
        fields=_MODIFIED_FIELDS,
    )


def rotation_failed(session: Session, rotation: SecretRotation, *, manual: bool, category: FailureCategory) -> None:
    """Infisical's `secrets.rotation-failed`: a manual rotation failed, or a scheduled one's final attempt did."""
    outbox.emit_for_rotation(
        session,
        Event.ROTATION_FAILED,
        rotation,
        **failure_fields(category),
        triggeredManually=manual,
        trigger=audit_events.trigger(manual=manual),
    )


def revocation_failed(
    session: Session, cred_id: str, rotation_id: str, *, generation: int, attempts: int, category: FailureCategory
) -> None:
    """`keys.revocation-failed`: on the first failure, then at most hourly while it keeps failing (by the database's
    clock, whichever worker sees it). A key whose rotation was deleted has no scope to match: it is not reported."""
    rotation = session.get(SecretRotation, rotation_id)
    if rotation is None:
        return
    due = or_(
        C.revocation_failure_notified_at.is_(None),
        C.revocation_failure_notified_at <= db.now(-REVOCATION_FAILURE_REPEAT_SECONDS),
    )
    if claimed(
        session, update(CREDENTIALS).where(C.id == cred_id, due).values(revocation_failure_notified_at=db.now())
    ):
        outbox.emit_for_rotation(
            session,
            Event.REVOCATION_FAILED,
            rotation,
            generation=generation,
            attempts=attempts,
            **failure_fields(category),
        )


def revocation_held(
    session: Session,
    rotation: SecretRotation,
    *,
    generation: int,
    lagging: list[str],
    provider_in_use: bool,
    held_until: datetime,
) -> None:
    """A hold begins: `keys.revocation-held`, and `consumers.lagging` when identities still read the old key.
    `held_until`: when the key is revoked anyway (maxHoldSeconds after its revocation fell due)."""
    outbox.emit_for_rotation(
        session,
        Event.REVOCATION_HELD,
        rotation,
        generation=generation,
        laggingIdentities=lagging,
        providerInUse=provider_in_use,
        heldUntil=iso(held_until),
    )
    if lagging:
        outbox.emit_for_rotation(
            session, Event.CONSUMERS_LAGGING, rotation, generation=generation, laggingIdentities=lagging
        )


def revocation_forced(
    session: Session, rotation: SecretRotation, *, generation: int, reason: str, lagging: list[str] | None = None
) -> None:
    """`keys.revocation-forced`: a key revoked before its time. `reason`: `emergency` or `max-hold`."""
    outbox.emit_for_rotation(
        session, Event.REVOCATION_FORCED, rotation, generation=generation, reason=reason, laggingIdentities=lagging
    )


def key_expiring(session: Session, rotation: SecretRotation, cred: RotationCredential) -> None:
    """`keys.expiring`: the active key expires within one interval (sent once per key)."""
    outbox.emit_for_rotation(
        session, Event.KEYS_EXPIRING, rotation, generation=cred.generation, expiresAt=iso(cred.expires_at)
    )
