"""The consumers view (rotation §14m): the rotation's consumers and its live superseded keys, with why each is
still in use. Reads the database only: the provider usage shown is the last reading the revocation holds kept.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from app.auth.principal import Principal
from app.catalogue import RotationType
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.schemas.consumers import ConsumerPublic, ConsumersEnvelope, LiveKey, ProviderUsage
from app.services.rotations import get_authorized
from app.store import consumers as consumer_store
from app.timeutil import iso

S = CredentialState
# Keys that may still work at the provider.
LIVE = (S.ACTIVE, S.INACTIVE, S.REVOKING, S.MINTED)
# The provider-usage parts of a stored hold reason (app.rotation.holds words them so). Its lagging-consumer parts
# are not taken from there: they are worked out again now, from the consumer records.
PROVIDER_REASONS = ("provider ", "waiting for a quiet window")


def consumers_view(session: Session, principal: Principal, rtype: RotationType, rotation_id: str) -> ConsumersEnvelope:
    """X2: needs `read` on the rotation, with X1's 404, 400 and 403."""
    rotation = get_authorized(session, principal, rtype, rotation_id, "read")
    rows = session.exec(
        select(RotationCredential)
        .where(
            RotationCredential.rotation_id == rotation.id,
            col(RotationCredential.state).in_(LIVE),
            col(RotationCredential.key_id).is_not(None),
        )
        .order_by(col(RotationCredential.generation).desc(), col(RotationCredential.copy_number))
    ).all()
    active = max((c for c in rows if c.state == S.ACTIVE), key=lambda c: c.generation, default=None)
    active_generation = active.generation if active is not None else None
    return ConsumersEnvelope(
        rotation_id=rotation.id,
        type=rotation.type,
        active_generation=active_generation,
        consumers=[_consumer(record) for record in consumer_store.consumers_of_rotation(session, rotation.id)],
        keys=[_key(session, rotation, cred, active_generation) for cred in rows if cred is not active],
    )


def _consumer(record: consumer_store.ConsumerRecord) -> ConsumerPublic:
    return ConsumerPublic(
        identity_id=record.identity_id,
        identity_name=record.identity_name,
        last_read_at=iso(record.last_read_at) or "",  # never null: the column is not nullable
        last_read_version=record.last_read_version,
        last_read_generation=record.last_read_generation,
        ip_address=record.ip_address,
        migrated=record.migrated,
    )


def _key(
    session: Session, rotation: SecretRotation, cred: RotationCredential, active_generation: int | None
) -> LiveKey:
    lagging = _lagging(session, rotation, cred, active_generation)
    reasons = [record.lag_reason for record in lagging] + _provider_reasons(cred)
    held = cred.held_since is not None
    held_until = None
    if held and cred.revoke_due_at is not None:
        held_until = cred.revoke_due_at + timedelta(seconds=rotation.revocation_max_hold_seconds)
    return LiveKey(
        generation=cred.generation,
        key_id=cred.key_id or "",  # never empty: the query takes only rows with a key id
        state=cred.state,
        superseded_at=iso(cred.superseded_at),
        revoke_after=iso(cred.revoke_not_before or cred.revoke_due_at),
        in_use=held or bool(lagging),
        in_use_because=reasons,
        provider_usage=_usage(cred),
        held_until=iso(held_until),
    )


def _lagging(
    session: Session, rotation: SecretRotation, cred: RotationCredential, active_generation: int | None
) -> list[consumer_store.ConsumerRecord]:
    """Consumers holding this key in use now (issue 12's rule (a)). A key never published (a copy, a key minted for
    a run that did not publish it) was given to nobody."""
    if cred.published_at is None or active_generation is None:
        return []
    return consumer_store.lagging_identities(
        session, rotation.id, since=cred.published_at, active_generation=active_generation, generation=cred.generation
    )


def _provider_reasons(cred: RotationCredential) -> list[str]:
    """The provider-usage reasons of the key's current hold, as the last check stored them."""
    if cred.held_since is None or not cred.hold_reason:
        return []
    return [part for part in cred.hold_reason.split("; ") if part.startswith(PROVIDER_REASONS)]


def _usage(cred: RotationCredential) -> ProviderUsage | None:
    if cred.usage_baseline is None and cred.usage_baseline_at is None and cred.provider_last_used_at is None:
        return None
    return ProviderUsage(
        observed_at=iso(cred.usage_baseline_at),
        usage=cred.usage_baseline,
        last_used_at=iso(cred.provider_last_used_at),
    )
