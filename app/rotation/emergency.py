"""Emergency rotation (rotation §14l): rotate now, then revoke every other live key of the rotation at once.

For a key that may be compromised. The new key is minted, verified and published by the engine exactly as a
manual rotate-now does. Then, under the rotation's lease, every other key that still exists at the provider
(active, inactive, queued or minted and never published, extra copies included) is put in the revocation queue
in one transaction, audited there, and revoked through the queue's own path, ignoring the minimum overlap and
any hold. The caller hears success only once the provider has confirmed every revocation; what it could not
confirm stays queued, and the worker keeps retrying it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session, col, select

from app import db
from app.auth.principal import Principal
from app.errors import AppError, ProviderFailure
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.rotation import audit_events, engine, heartbeat, lease, notices, revocations
from app.rotation.intents import database_time

log = logging.getLogger("keyturn.rotation")

S = CredentialState
# States of a key that may still work at the provider.
LIVE = (S.ACTIVE, S.INACTIVE, S.REVOKING, S.MINTED)
LEASE_WAIT_SECONDS = 5.0  # as update and delete wait for a running rotation (app.rotation.changes)
REASON = "revoked at once by an emergency rotation"
ID_PREFIX = 12  # as the logs name keys


@dataclass(frozen=True)
class LiveKey:
    """A key other than the published one that the provider has not confirmed gone; never the key itself."""

    generation: int
    copy_number: int
    key_id_prefix: str
    state: str

    @classmethod
    def of(cls, cred: RotationCredential) -> LiveKey:
        return cls(cred.generation, cred.copy_number, (cred.key_id or "")[:ID_PREFIX], cred.state)

    def describe(self) -> str:
        copy = f" copy {self.copy_number}" if self.copy_number else ""
        return f"generation {self.generation}{copy} (key id {self.key_id_prefix}…)"

    def detail(self) -> dict:
        return {
            "generation": self.generation,
            "copyNumber": self.copy_number,
            "keyIdPrefix": self.key_id_prefix,
            "state": self.state,
        }


class RevocationsUnconfirmed(ProviderFailure):
    """502: the new key is published, but the provider has not confirmed that every earlier key is gone."""


def rotate_and_revoke(rotation_id: str, *, actor: Principal | str) -> SecretRotation:
    """Rotate now (the engine's manual rotation, its audit event marked `trigger: emergency`), then revoke every
    other live key of the rotation. Returns the rotation as published when every revocation is confirmed; raises
    RevocationsUnconfirmed (502) naming the keys still live otherwise. Errors of the rotation itself (400 busy,
    502 provider) come from the engine unchanged, before anything is revoked."""
    with audit_events.triggered(audit_events.EMERGENCY):
        rotation = engine.rotate(rotation_id, manual=True, actor=actor)
    queued: list[str] = []
    not_queued: str | None = None
    try:
        with heartbeat.held(rotation_id, wait=LEASE_WAIT_SECONDS) as owner:
            queued = _queue_the_rest(rotation_id, owner, actor)
            for cred_id in queued:
                _attempt(cred_id)
    except (AppError, lease.LeaseLost) as exc:  # another run holds the rotation, or it was deleted meanwhile
        not_queued = exc.message if isinstance(exc, AppError) else str(exc)
        log.warning("emergency rotation of %s: could not queue the earlier keys: %s", rotation_id, not_queued)
    still_live = _still_live(rotation_id)
    if still_live:
        raise _unconfirmed(still_live, not_queued)
    log.info("emergency rotation of %s: %s earlier key(s) revoked", rotation_id, len(queued))
    return rotation


def _attempt(cred_id: str) -> None:
    """One forced attempt; whatever goes wrong leaves the entry queued, and the final check reports it."""
    try:
        revocations.attempt(cred_id, force=True)
    except Exception:
        log.warning("emergency revocation of credential %s raised; it stays queued", cred_id, exc_info=True)


def _live_rows(session: Session, rotation_id: str) -> list[RotationCredential]:
    return list(
        session.exec(
            select(RotationCredential)
            .where(
                RotationCredential.rotation_id == rotation_id,
                col(RotationCredential.state).in_(LIVE),
                col(RotationCredential.key_id).is_not(None),
            )
            .order_by(col(RotationCredential.generation), col(RotationCredential.copy_number))
        ).all()
    )


def _published(rows: list[RotationCredential]) -> RotationCredential | None:
    return max((c for c in rows if c.state == S.ACTIVE), key=lambda c: c.generation, default=None)


def _queue_the_rest(rotation_id: str, owner: str, actor: Principal | str) -> list[str]:
    """In one transaction under the lease: queue every live key but the published one, due now, and audit each.
    Keys already queued stay queued (the forced attempt ignores their not-before). Returns the queued ids."""
    with db.unit_of_work() as session:
        rotation = lease.leased_row(session, rotation_id, owner)
        rows = _live_rows(session, rotation_id)
        keep = _published(rows)
        now = database_time(session)
        queued = []
        for cred in rows:
            if cred is keep:
                continue
            if cred.state != S.REVOKING and not revocations.queue(
                session, cred.id, [cred.state], not_before=now, reason=REASON
            ):
                continue  # moved meanwhile (the lease makes this rare): the final check still sees it if live
            queued.append(cred.id)
            audit_events.record(
                session,
                actor,
                audit_events.FORCED_REVOCATION_EVENT,
                rotation,
                trigger=audit_events.EMERGENCY,
                generation=cred.generation,
                copyNumber=cred.copy_number,
                keyIdPrefix=(cred.key_id or "")[:ID_PREFIX],
                previousState=cred.state,
            )
            notices.revocation_forced(session, rotation, generation=cred.generation, reason=notices.EMERGENCY)
    return queued


def _still_live(rotation_id: str) -> list[LiveKey]:
    """Every key of the rotation but the published one that may still work: what the request did not revoke."""
    with db.unit_of_work() as session:
        rows = _live_rows(session, rotation_id)
        keep = _published(rows)
        return [LiveKey.of(cred) for cred in rows if cred is not keep]


def _unconfirmed(still_live: list[LiveKey], not_queued: str | None) -> RevocationsUnconfirmed:
    keys = "; ".join(key.describe() for key in still_live)
    if not_queued is None:
        message = (
            f"The new key was published, but the provider has not confirmed the revocation of {keys}. "
            "They stay queued for revocation and are retried."
        )
    else:
        message = (
            f"The new key was published, but these earlier keys are still live: {keys}. They could not all be "
            f"queued for immediate revocation ({not_queued}); send the emergency rotation again."
        )
    return RevocationsUnconfirmed(message, details=[key.detail() for key in still_live])
