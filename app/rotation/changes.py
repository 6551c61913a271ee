"""Updating and deleting a rotation (rotation §5.6, rotation §9). Each holds the rotation's lease, waiting a few seconds
for a running rotation, and applies the change in one transaction of its own, audited as the caller."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import cast

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app import db
from app.auth.principal import Principal
from app.config import get_settings
from app.errors import BadRequest
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.providers.base import ProviderError
from app.rotation import audit_events, heartbeat, lease, notices, schedule
from app.rotation.intents import transition
from app.rotation.reconcile import reconcile_rotation
from app.rotation.upstream import ConnectionUnavailable, for_connection
from app.store import secrets as secrets_store
from app.timeutil import utcnow

log = logging.getLogger("keyturn.rotation")

S = CredentialState
LEASE_WAIT_SECONDS = 5.0  # update and delete wait this long for a running rotation before answering 400
TAKEN = "The rotation's name or mapped secret name is already taken in this folder"


def update_rotation(
    rotation_id: str,
    *,
    apply: Callable[[Session, SecretRotation], None],
    changed_fields: list[str],
    actor: Principal | str = audit_events.PLATFORM,
) -> SecretRotation:
    """Under the lease: re-read the row, let `apply(session, rotation)` change it (it raises BadRequest on a
    conflict), recompute the schedule and audit, in one transaction. Returns the saved row."""
    with heartbeat.held(rotation_id, wait=LEASE_WAIT_SECONDS) as owner:
        try:
            with db.unit_of_work() as session:
                try:
                    rotation = lease.leased_row(session, rotation_id, owner)
                except lease.LeaseLost:
                    raise BadRequest(lease.BUSY_MESSAGE) from None
                interval_before = rotation.rotation_interval
                apply(session, rotation)
                now = utcnow()
                unit_seconds = get_settings().interval_unit_seconds
                rotation.next_rotation_at = schedule.for_rotation(rotation, now=now, unit_seconds=unit_seconds)
                if rotation.expiry_due_at is not None and rotation.rotation_interval != interval_before:
                    # The active key dies when it did; one interval before it moves with the interval.
                    expires_at = rotation.expiry_due_at + timedelta(seconds=interval_before * unit_seconds)
                    interval = rotation.rotation_interval
                    rotation.expiry_due_at = schedule.expiry_due_at(expires_at, interval, unit_seconds)
                rotation.updated_at = now
                session.add(rotation)
                session.flush()
                audit_events.record(session, actor, "update-secret-rotation", rotation, changedFields=changed_fields)
        except IntegrityError:  # a concurrent request took the name after `apply` checked it
            raise BadRequest(TAKEN) from None
    return rotation


def delete_rotation(
    rotation_id: str, *, delete_secrets: bool, revoke: bool, actor: Principal | str = audit_events.PLATFORM
) -> SecretRotation:
    """Under the lease: optionally revoke every live key first (400 and nothing deleted on failure), then
    delete the rotation (and its secret if asked) in one transaction, audited as `actor`. Returns the row
    as it was. A lease lost on the way answers the busy 400, as a lease held by someone else does."""
    with heartbeat.held(rotation_id, wait=LEASE_WAIT_SECONDS) as owner:
        reconcile_rotation(rotation_id)
        if revoke:
            _revoke_live_keys(rotation_id, owner)
        with db.unit_of_work() as session:
            try:
                rotation = lease.leased_row(session, rotation_id, owner)
            except lease.LeaseLost:
                raise BadRequest(lease.BUSY_MESSAGE) from None
            if delete_secrets:
                secrets_store.delete_secrets_of(session, rotation_id)
                notices.secret_modified(session, rotation)
            else:
                secrets_store.release_secrets(session, rotation_id)
            # History goes with the rotation; rows that still need work stay, so the queue outlives it.
            closed = [S.REVOKED, S.ABANDONED] + ([] if revoke else [S.ACTIVE, S.INACTIVE])
            for cred in session.exec(
                select(RotationCredential).where(
                    RotationCredential.rotation_id == rotation_id, col(RotationCredential.state).in_(closed)
                )
            ).all():
                session.delete(cred)
            session.delete(rotation)
            # Key names avoid "secret" and "credential": the audit filter would drop them.
            audit_events.record(
                session, actor, "delete-secret-rotation", rotation, removeMapped=delete_secrets, revokeKeys=revoke
            )
    log.info(
        "rotation %s deleted (secret %s, keys %s)",
        rotation_id,
        "deleted" if delete_secrets else "kept",
        "revoked" if revoke else "left live",
    )
    return rotation


def _revoke_live_keys(rotation_id: str, owner: str) -> None:
    """Every stored key of the rotation, before the database is touched (rotation §9 step 2, rotation §14e.6).

    The published key goes last, so a failure on any other key leaves the secret holding a working key.
    The lease is renewed before each provider call: a holder that lost it stops there. Each revocation
    commits as soon as the provider confirms it."""
    with db.unit_of_work() as session:
        live = session.exec(
            select(RotationCredential).where(
                RotationCredential.rotation_id == rotation_id,
                col(RotationCredential.key_id).is_not(None),
                col(RotationCredential.state).in_([S.ACTIVE, S.INACTIVE, S.MINTED, S.REVOKING]),
            )
        ).all()
    for cred in sorted(live, key=lambda c: (c.state == S.ACTIVE, c.generation)):
        if not lease.renew(rotation_id, owner):
            raise BadRequest(lease.BUSY_MESSAGE)
        _revoke(cred)


def _revoke(cred: RotationCredential) -> None:
    """Revoke one key at the provider and record it; BadRequest (rotation §9: 400) if the provider refuses."""
    with db.unit_of_work() as session:
        try:
            upstream = for_connection(session, cred.connection_id)
            upstream.revoke(cast(str, cred.key_id), minted_with=cred.credential_fingerprint)  # key_id: not None
        except ProviderError as exc:
            raise BadRequest(exc.message) from None
        except ConnectionUnavailable as exc:
            raise BadRequest(str(exc)) from None
        # No match means the revocation queue confirmed the same key meanwhile: it is gone either way.
        transition(
            session,
            cred.id,
            [cred.state],
            state=S.REVOKED,
            revoked_at=utcnow(),
            encrypted_key=None,
            revoke_not_before=None,
            slot=None,
        )
