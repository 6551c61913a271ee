"""Intent records (rotation §14e): written before a mint, filled in the moment the provider answers.

Every state change of a credential row is a compare-and-set on its state, so the run that minted a key
and a reconciler that thinks the run died can never both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col

from app import db
from app.models import RotationCredential
from app.models.credential import CredentialState
from app.models.sealed import ROTATION_KEY
from app.providers.base import MintedKey
from app.timeutil import utcnow


def key_name(base: str, rotation_id: str, generation: int, when: datetime) -> str:
    """`<parameters.name>-<YYYYMMDD>-g<generation>-<rotation id first 8 hex>` (rotation §14c)."""
    return f"{base}-{when:%Y%m%d}-g{generation}-{rotation_id.replace('-', '')[:8]}"


def seal_key(cred_id: str, api_key: str) -> str:
    return ROTATION_KEY.seal(cred_id, api_key)


def open_key(cred: RotationCredential) -> str | None:
    if cred.encrypted_key is None:
        return None
    return ROTATION_KEY.open(cred.id, cred.encrypted_key)


def new_intent(
    *, rotation_id: str, connection_id: str, provider: str, generation: int, base_name: str, now: datetime
) -> RotationCredential:
    return RotationCredential(
        rotation_id=rotation_id,
        connection_id=connection_id,
        provider=provider,
        generation=generation,
        key_name=key_name(base_name, rotation_id, generation, now),
        state=CredentialState.PENDING,
        created_at=now,
    )


def transition(session: Session, cred_id: str, from_states: Iterable[str], **values: Any) -> bool:
    """Move a credential out of one of `from_states`; False if someone else moved it first."""
    statement = (
        update(RotationCredential)
        .where(col(RotationCredential.id) == cred_id, col(RotationCredential.state).in_(list(from_states)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def store_minted(cred_id: str, minted: MintedKey) -> bool:
    """Store the key id and encrypted key at once, before anything else happens (rotation §14e step 2).

    False if a reconciler closed the intent meanwhile; the key is then queued for revocation instead."""
    sealed = seal_key(cred_id, minted.api_key)
    with db.unit_of_work() as session:
        stored = transition(
            session,
            cred_id,
            [CredentialState.PENDING],
            key_id=minted.key_id,
            encrypted_key=sealed,
            state=CredentialState.MINTED,
        )
        if not stored:
            transition(
                session,
                cred_id,
                [CredentialState.ABANDONED, CredentialState.REVOKING],
                key_id=minted.key_id,
                state=CredentialState.REVOKING,
                revoke_not_before=utcnow(),
                last_error="the intent was reconciled while its mint was in flight",
            )
    return stored
