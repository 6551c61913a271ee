"""Holds on queued revocations (issue 12): is a superseded key still in use, and may it be revoked now?

A key is in use while (a) a consumer lags: an identity read the rotation's secret since the key was published and
has not read the active generation since (app.store.consumers), or (b) the provider saw traffic on it within the
rotation's `quietSeconds`: its usage moved since the last reading kept as the baseline, or no reading is yet a
quiet window old, or it reports a last use inside the window.

A revocation whose key is in use is held: its not-before moves on by `quietSeconds / 2` at most, and nothing is
deleted. `maxHoldSeconds` after the hold clock started (`revoke_due_at`: when it was first due without a hold) it
is revoked anyway, and the hold is recorded with the lagging identities' names. Only keys that were published
(someone may hold them) of a rotation that still exists with `holdWhileInUse` on are checked; the check runs in
the revocation attempt's transaction, after its claim, and compares times on the database's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app import db
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.providers.base import KeyUsage, ProviderError
from app.rotation import audit_events, notices
from app.rotation.intents import database_time
from app.rotation.messages import clip
from app.rotation.upstream import Upstream
from app.store import consumers

WHEN_UNUSED = "when-unused"
FORCED_EVENT = "secret-rotation-revocation-forced"
MIN_RECHECK_SECONDS = 1.0  # a hold is re-checked no sooner, whatever quietSeconds says


def queues_previous_at_publish(rotation: SecretRotation) -> bool:
    """`when-unused` mode: publishing generation N queues N-1 at once (`scheduled`: N-2, as always)."""
    return rotation.revocation_mode == WHEN_UNUSED


def load(session: Session, cred_id: str) -> tuple[RotationCredential, SecretRotation | None]:
    """A queued credential and its rotation (None once deleted), in the one statement that reads the credential."""
    statement = (
        select(RotationCredential, SecretRotation)
        .outerjoin(SecretRotation, col(SecretRotation.id) == RotationCredential.rotation_id)
        .where(col(RotationCredential.id) == cred_id)
    )
    cred, rotation = session.exec(statement).one()
    return cred, rotation


def applies(cred: RotationCredential, rotation: SecretRotation | None) -> bool:
    """Whether the key's revocation is checked for use: its rotation still exists and holds while in use, and the
    key was published (a key nobody was ever given is never held)."""
    return rotation is not None and rotation.revocation_hold_while_in_use and cred.published_at is not None


@dataclass
class Verdict:
    """What a check decided. `hold`: keep the key, write `values` now. Otherwise revoke it, writing `values` with
    the revocation; `forced` when it is revoked while still in use (past the maximum hold)."""

    hold: bool
    forced: bool
    reasons: list[str]
    lagging: list[str]  # names of the identities that lag
    values: dict[str, Any] = field(default_factory=dict)


def check(session: Session, rotation: SecretRotation, cred: RotationCredential, upstream: Upstream) -> Verdict:
    """Decide, for a claimed entry that `applies`, whether to hold or revoke it now. No provider DELETE here."""
    now = database_time(session)
    lagging = _lagging(session, rotation, cred)
    reasons = [record.lag_reason for record in lagging]
    usage_reasons, values = _provider_use(rotation, cred, upstream, now)
    reasons.extend(usage_reasons)
    names = sorted({record.identity_name for record in lagging})
    due = cred.revoke_due_at or now
    if cred.revoke_due_at is None:
        values["revoke_due_at"] = due  # a row queued before hold clocks were kept starts its clock now
    if not reasons:
        return Verdict(hold=False, forced=False, reasons=[], lagging=[], values=values)
    max_hold = rotation.revocation_max_hold_seconds
    values["held_since"] = cred.held_since or now
    left = (due + timedelta(seconds=max_hold) - now).total_seconds()
    if left > 0:
        wait = max(MIN_RECHECK_SECONDS, min(rotation.revocation_quiet_seconds / 2, left))
        values["hold_reason"] = clip("; ".join(reasons))
        values["revoke_not_before"] = db.now(wait)
        return Verdict(hold=True, forced=False, reasons=reasons, lagging=names, values=values)
    values["hold_reason"] = clip(f"revoked after maxHoldSeconds ({max_hold} s) while in use: " + "; ".join(reasons))
    return Verdict(hold=False, forced=True, reasons=reasons, lagging=names, values=values)


def notify_held(session: Session, rotation: SecretRotation, cred: RotationCredential, verdict: Verdict) -> None:
    """In the transaction that starts a hold: tell webhooks why (lagging identities, provider traffic)."""
    due = cred.revoke_due_at or verdict.values["revoke_due_at"]  # `check` starts a missing hold clock
    notices.revocation_held(
        session,
        rotation,
        generation=cred.generation,
        lagging=verdict.lagging,
        provider_in_use=len(verdict.reasons) > len(verdict.lagging),
        held_until=due + timedelta(seconds=rotation.revocation_max_hold_seconds),
    )


def record_forced(session: Session, rotation: SecretRotation, cred: RotationCredential, verdict: Verdict) -> None:
    """In the transaction that records the revocation: the audit entry of a key revoked while still in use, and
    `keys.revocation-forced` to webhooks."""
    audit_events.record(
        session,
        audit_events.PLATFORM,
        FORCED_EVENT,
        rotation,
        generation=cred.generation,
        lagging=verdict.lagging,
        reasons=verdict.reasons,
        heldSince=_iso(verdict.values.get("held_since")),
        maxHoldSeconds=rotation.revocation_max_hold_seconds,
    )
    notices.revocation_forced(
        session, rotation, generation=cred.generation, reason=notices.MAX_HOLD, lagging=verdict.lagging
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _lagging(session: Session, rotation: SecretRotation, cred: RotationCredential) -> list[consumers.ConsumerRecord]:
    """Rule (a): the identities that read the secret since this key was published and still lag the active key."""
    active = session.exec(
        select(func.max(RotationCredential.generation)).where(
            col(RotationCredential.rotation_id) == rotation.id,
            col(RotationCredential.state) == CredentialState.ACTIVE,
        )
    ).one()
    if active is None or cred.published_at is None:
        return []
    return consumers.lagging_identities(
        session, rotation.id, since=cred.published_at, active_generation=active, generation=cred.generation
    )


def _provider_use(
    rotation: SecretRotation, cred: RotationCredential, upstream: Upstream, now: datetime
) -> tuple[list[str], dict[str, Any]]:
    """Rule (b): the provider's reading of the key, and the columns it updates (baseline, last use)."""
    assert cred.key_id is not None
    try:
        reading = upstream.key_usage(cred.key_id)
    except ProviderError as exc:
        # The provider cannot say: keep holding until it can (the maximum hold still applies).
        return [clip(f"provider usage unknown: {exc.message}", 200)], {}
    if reading is None:  # the provider does not know the key: no traffic to wait for
        return [], {}
    return usage_reasons(reading, cred, quiet_seconds=rotation.revocation_quiet_seconds, now=now)


def usage_reasons(
    reading: KeyUsage, cred: RotationCredential, *, quiet_seconds: int, now: datetime
) -> tuple[list[str], dict[str, Any]]:
    """Pure rule (b) for one reading taken at `now` (the database's clock). A `usage` that moved since the baseline,
    or a baseline younger than `quiet_seconds`, is in use, and a moved usage becomes the new baseline; a
    `last_used_at` within `quiet_seconds` of the reading is in use."""
    reasons: list[str] = []
    values: dict[str, Any] = {}
    if reading.usage is not None:
        baseline, baseline_at = cred.usage_baseline, cred.usage_baseline_at
        if baseline is None or baseline_at is None:
            values.update(usage_baseline=reading.usage, usage_baseline_at=now)
            reasons.append(f"waiting for a quiet window of {quiet_seconds} s in provider usage")
        elif reading.usage != baseline:
            values.update(usage_baseline=reading.usage, usage_baseline_at=now)
            seconds = max(0, round((now - baseline_at).total_seconds()))
            reasons.append(f"provider usage rose by {reading.usage - baseline:.6g} in {seconds} s")
        elif (now - baseline_at).total_seconds() < quiet_seconds:
            seconds = max(0, round((now - baseline_at).total_seconds()))
            reasons.append(f"waiting for a quiet window of {quiet_seconds} s in provider usage ({seconds} s so far)")
    if reading.last_used_at is not None:
        values["provider_last_used_at"] = reading.last_used_at
        ago = (reading.observed_at - reading.last_used_at).total_seconds()
        if ago < quiet_seconds:
            reasons.append(f"provider last used the key {max(0, round(ago))} s ago")
    return reasons, values
