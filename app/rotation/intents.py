"""Intent records (rotation §14e): written before a mint, filled in the moment the provider answers.

Every state change of a credential row is a compare-and-set on its state, so the run that minted a key
and a reconciler that thinks the run died can never both win.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, bindparam, func, insert, update
from sqlmodel import Session, select

from app import db
from app.models import RotationCredential
from app.models.base import new_id
from app.models.credential import CredentialState
from app.models.sealed import ROTATION_KEY
from app.models.tables import CREDENTIALS
from app.providers.base import MintedKey
from app.rotation.messages import clip

LATE_KEY = "the intent was reconciled while its mint was in flight"


def key_name(base: str, rotation_id: str, generation: int, when: datetime) -> str:
    """`<parameters.name>-<YYYYMMDD>-g<generation>-<rotation id first 8 hex>` (rotation §14c)."""
    return f"{base}-{when:%Y%m%d}-g{generation}-{rotation_id.replace('-', '')[:8]}"


def seal_key(cred_id: str, api_key: str) -> str:
    return ROTATION_KEY.seal(cred_id, api_key)


def open_key(cred: RotationCredential) -> str | None:
    if cred.encrypted_key is None:
        return None
    return ROTATION_KEY.open(cred.id, cred.encrypted_key)


@dataclass(frozen=True)
class Intent:
    """A committed intent, as the run that recorded it needs it."""

    id: str
    rotation_id: str
    generation: int
    key_name: str
    expires_at: datetime | None = None  # the expiry the mint asks for


def insert_intent(
    session: Session,
    *,
    rotation_id: str,
    connection_id: str,
    provider: str,
    generation: int,
    base_name: str,
    now: datetime,
    credential_fingerprint: str,
    expires_at: datetime | None = None,
) -> Intent:
    """A pending intent row, written by one Core INSERT in the caller's transaction (no ORM object or flush).
    `credential_fingerprint`: of the management credentials the mint will use (Upstream.fingerprint), so a
    later 404 on revoke is trusted only under them. `expires_at`: the expiry the mint will ask for."""
    intent = Intent(new_id(), rotation_id, generation, key_name(base_name, rotation_id, generation, now), expires_at)
    session.execute(
        _INSERT_INTENT,
        {
            "id": intent.id,
            "rotation_id": rotation_id,
            "connection_id": connection_id,
            "provider": provider,
            "generation": generation,
            "copy_number": 0,
            "key_name": intent.key_name,
            "state": CredentialState.PENDING,
            "created_at": now,
            "revoke_attempts": 0,
            "negative_scans": 0,
            "credential_fingerprint": credential_fingerprint,
            "expires_at": expires_at,
        },
    )
    return intent


_INSERT_INTENT = insert(CREDENTIALS)  # one statement object, so its cache key is computed once


def transition(session: Session, cred_id: str, from_states: Iterable[str], **values: Any) -> bool:
    """Move a credential out of one of `from_states`; False if someone else moved it first."""
    plain, expressions, params = db.split_values(values)
    states = list(from_states)
    one = len(states) == 1  # `state = :s` needs no per-run expansion, as `state IN (...)` does
    params.update(p_id=cred_id, p_states=states[0] if one else states)
    statement = _transition_statement(plain, expressions, one)
    return cast(CursorResult[Any], session.execute(statement, params)).rowcount == 1


@functools.lru_cache(maxsize=256)
def _transition_statement(plain: tuple[str, ...], expressions: tuple[tuple[str, Any], ...], one: bool) -> Update:
    """Built once per shape (db.set_clause), on the Core table: no ORM bookkeeping per run."""
    c = CREDENTIALS.c
    state_is = c.state == bindparam("p_states") if one else c.state.in_(bindparam("p_states", expanding=True))
    return update(CREDENTIALS).where(c.id == bindparam("p_id"), state_is).values(db.set_clause(plain, expressions))


def database_time(session: Session) -> datetime:
    """The database's clock, read once in this unit of work: due times are written and compared on it, like
    leases (issue 10, A5), so a process whose clock is off by some skew does not shift them by that skew."""
    return session.exec(select(db.now())).one()


def add_extra_key(session: Session, intent: RotationCredential, key_id: str, reason: str, now: datetime) -> str:
    """Record one more key found under `intent`'s name (a create that was repeated on its way) as a row of its
    own, the next copy of the generation, queued for revocation at `now` (the database's time). Returns the new
    row's id.

    The caller holds the intent row's lock (it just updated it), so two writers do not pick the same copy number."""
    taken = session.exec(
        select(func.max(RotationCredential.copy_number)).where(
            RotationCredential.rotation_id == intent.rotation_id, RotationCredential.generation == intent.generation
        )
    ).one()
    extra = RotationCredential(
        rotation_id=intent.rotation_id,
        connection_id=intent.connection_id,
        provider=intent.provider,
        generation=intent.generation,
        copy_number=(taken or 0) + 1,
        key_name=intent.key_name,
        key_id=key_id,
        credential_fingerprint=intent.credential_fingerprint,
        state=CredentialState.REVOKING,
        revoke_not_before=now,
        last_error=clip(reason),
        created_at=now,
    )
    session.add(extra)
    session.flush()
    return extra.id


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
            _queue_late_key(session, cred_id, minted.key_id)
    return stored


def _queue_late_key(session: Session, cred_id: str, key_id: str) -> None:
    """A reconciler closed the intent while its mint was in flight: the key just returned must end up queued,
    in the intent's row if that holds no key yet, else (it adopted another key under the name) in a copy."""
    cred = session.get_one(RotationCredential, cred_id, with_for_update=True, populate_existing=True)
    if cred.key_id is None:
        transition(
            session,
            cred_id,
            [CredentialState.ABANDONED, CredentialState.REVOKING],
            key_id=key_id,
            state=CredentialState.REVOKING,
            revoke_not_before=db.now(),
            last_error=LATE_KEY,
        )
    elif cred.key_id != key_id:
        add_extra_key(session, cred, key_id, LATE_KEY, database_time(session))
