"""Consumers of rotated secrets: the batched record of who read which key, and the questions asked of it.

The read path notes each identity's read of a rotation-owned secret in memory (app.reads.audit); a background
flush writes them here, one upsert per batch. The consumers view and the revocation engine read them back. It
lives below both (rotation and reads may not import each other).

Every record lags the reads by up to one flush interval (app.reads.audit.FLUSH_SECONDS) in each process; a
revocation rule built on it needs an overlap at least that long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, Table, and_, distinct, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from app.models import Identity, RotationCredential, Secret, SecretConsumer
from app.models.credential import CredentialState

MAX_IP_LENGTH = 64  # secret_consumer.ip_address
# Rows per statement: SQLite caps bound parameters (32766), and one huge statement holds its locks longer.
UPSERT_CHUNK = 500
# What a newer read replaces; first_read_at stays.
_UPDATED = ("rotation_id", "last_read_at", "last_read_version", "last_read_generation", "ip_address")


@dataclass(frozen=True, slots=True)
class RotatedRead:
    """A rotation-owned secret as one read returned it. Built once per rendered read, so the hot path only
    passes it on."""

    secret_id: str
    rotation_id: str
    version: int
    generation: int | None

    @classmethod
    def of(cls, secret: Secret) -> RotatedRead | None:
        """None for a secret no rotation owns: its readers are not tracked."""
        if secret.rotation_id is None:
            return None
        return cls(secret.id, secret.rotation_id, secret.version, secret.rotation_generation)


@dataclass(frozen=True, slots=True)
class ConsumerRead:
    """One identity's latest read of one secret, waiting to be written."""

    read: RotatedRead
    identity_id: str
    at: datetime
    ip: str | None


@dataclass(frozen=True)
class ConsumerRecord:
    """One identity's last read of a rotation's secret, and the secret's version now."""

    secret_id: str
    identity_id: str
    identity_name: str
    first_read_at: datetime
    last_read_at: datetime
    last_read_version: int
    last_read_generation: int | None
    ip_address: str | None
    current_version: int

    @property
    def migrated(self) -> bool:
        """The last read returned the value the secret holds now (the active key)."""
        return self.last_read_version >= self.current_version

    @property
    def lag_reason(self) -> str:
        """Why this consumer keeps an older key in use, as holds and the consumers view word it."""
        if self.last_read_generation is not None:
            return f"{self.identity_name} last read generation {self.last_read_generation}"
        return f"{self.identity_name} last read version {self.last_read_version}"


# A superseded key that may still work: a lagging consumer keeps it in use.
SUPERSEDED_LIVE = (CredentialState.INACTIVE, CredentialState.REVOKING)

_TABLE: Table = SQLModel.metadata.tables["secret_consumer"]


def _upsert(dialect: str) -> Executable:
    """INSERT ... ON CONFLICT (secret_id, identity_id) DO UPDATE, unless the stored read is newer."""
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(_TABLE)
    elif dialect == "sqlite":
        statement = sqlite.insert(_TABLE)
    else:
        raise NotImplementedError(f"consumer records need SQLite or PostgreSQL, not {dialect}")
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.secret_id, _TABLE.c.identity_id],
        set_={name: excluded[name] for name in _UPDATED},
        where=excluded.last_read_at >= _TABLE.c.last_read_at,
    )


def record_reads(session: Session, reads: Sequence[ConsumerRead]) -> None:
    """Upsert each read into its (secret, identity) record, in statements of UPSERT_CHUNK rows.

    A record never moves back in time: a read older than the stored one (another process's batch, flushed
    later) changes nothing. Rows go in key order, so two processes flushing at once lock rows in the same
    order and cannot deadlock each other."""
    if not reads:
        return
    statement = _upsert(session.get_bind().dialect.name)
    rows = [
        {
            "secret_id": r.read.secret_id,
            "identity_id": r.identity_id,
            "rotation_id": r.read.rotation_id,
            "first_read_at": r.at,
            "last_read_at": r.at,
            "last_read_version": r.read.version,
            "last_read_generation": r.read.generation,
            "ip_address": r.ip if r.ip is None or len(r.ip) <= MAX_IP_LENGTH else None,
        }
        for r in sorted(reads, key=lambda r: (r.read.secret_id, r.identity_id))
    ]
    for start in range(0, len(rows), UPSERT_CHUNK):
        session.execute(statement, rows[start : start + UPSERT_CHUNK])


def _records(session: Session, *conditions: ColumnElement[bool]) -> list[ConsumerRecord]:
    statement = (
        select(SecretConsumer, Identity.name, Secret.version)
        .join(Identity, col(Identity.id) == SecretConsumer.identity_id)
        .join(Secret, col(Secret.id) == SecretConsumer.secret_id)
        .where(*conditions)
        .order_by(col(Identity.name), col(SecretConsumer.identity_id), col(SecretConsumer.secret_id))
    )
    return [
        ConsumerRecord(
            secret_id=row.secret_id,
            identity_id=row.identity_id,
            identity_name=name,
            first_read_at=row.first_read_at,
            last_read_at=row.last_read_at,
            last_read_version=row.last_read_version,
            last_read_generation=row.last_read_generation,
            ip_address=row.ip_address,
            current_version=version,
        )
        for row, name, version in session.exec(statement).all()
    ]


def _of_rotation(rotation_id: str) -> tuple[ColumnElement[bool], ...]:
    # Reads made while the rotation owned the secret, of a secret it still owns.
    return (col(SecretConsumer.rotation_id) == rotation_id, col(Secret.rotation_id) == rotation_id)


def consumers_of_rotation(session: Session, rotation_id: str) -> list[ConsumerRecord]:
    """Every identity that read the rotation's secret while the rotation owned it, by identity name. A rotation
    maps one secret, so one record per identity. Admin-token reads are never recorded."""
    return _records(session, *_of_rotation(rotation_id))


def lagging_identities(
    session: Session,
    rotation_id: str,
    *,
    since: datetime,
    active_generation: int,
    generation: int | None = None,
) -> list[ConsumerRecord]:
    """The consumers that keep a superseded key in use under issue 12's rule (a): an identity that read the
    rotation's secret since the key was published (`since`: its `published_at`) and has not read the current
    version since.

    Only each identity's last read is kept, so the rule reads: the last read was at or after `since`, and it
    returned a generation older than `active_generation`. (Had the identity read the current version after
    `since`, that would be its last read, unless a later read returned an older value again, which still lags.)
    A last read whose generation was not recorded (a secret not yet rotated since revision 0006) lags while its
    version is older than the secret's current version.

    `generation`, the key's own generation, guards against clocks: `since` is the publisher's clock and
    `last_read_at` the reader's. When given, a last read that returned this key or a later superseded one lags
    whatever the timestamps say, since it cannot have happened before the key was published.

    The answer is conservative: an identity whose last read returned an even older key also holds this one in
    use. Reads not yet flushed are not seen (see the module docstring)."""
    read_since = col(SecretConsumer.last_read_at) >= since
    if generation is not None:
        read_since = or_(read_since, col(SecretConsumer.last_read_generation) >= generation)
    return _records(session, *_of_rotation(rotation_id), _read_older_than(active_generation), read_since)


def _read_older_than(active_generation: Any) -> ColumnElement[bool]:
    """The last read returned a generation older than `active_generation` (or, unrecorded, an older version)."""
    return or_(
        col(SecretConsumer.last_read_generation) < active_generation,
        and_(
            col(SecretConsumer.last_read_generation).is_(None),
            col(SecretConsumer.last_read_version) < col(Secret.version),
        ),
    )


def lagging_counts(session: Session) -> dict[str, int]:
    """For every rotation with a lagging consumer: how many identities lag, by `lagging_identities`' rule applied
    to each of its superseded keys that may still work (one statement for all rotations)."""
    cred = RotationCredential
    statement = (
        select(SecretConsumer.rotation_id, func.count(distinct(col(SecretConsumer.identity_id))))
        .join(Secret, col(Secret.id) == SecretConsumer.secret_id)
        .join(cred, col(cred.rotation_id) == SecretConsumer.rotation_id)
        .where(
            col(Secret.rotation_id) == SecretConsumer.rotation_id,
            col(cred.state).in_(SUPERSEDED_LIVE),
            col(cred.published_at).is_not(None),
            _read_older_than(col(Secret.rotation_generation)),
            or_(
                col(SecretConsumer.last_read_at) >= cred.published_at,
                col(SecretConsumer.last_read_generation) >= cred.generation,
            ),
        )
        .group_by(SecretConsumer.rotation_id)
    )
    return {rotation_id: count for rotation_id, count in session.exec(statement).all() if rotation_id is not None}


def unmigrated_counts(session: Session, rotation_ids: Sequence[str] | None = None) -> dict[str, int]:
    """Per rotation, the consumers whose last read is older than the secret's current version (the negation of
    ConsumerRecord.migrated), in one grouped query; rotations with none are absent."""
    statement = (
        select(SecretConsumer.rotation_id, func.count())
        .join(Secret, col(Secret.id) == SecretConsumer.secret_id)
        .where(
            col(Secret.rotation_id) == col(SecretConsumer.rotation_id),
            col(SecretConsumer.last_read_version) < col(Secret.version),
        )
        .group_by(col(SecretConsumer.rotation_id))
    )
    if rotation_ids is not None:
        statement = statement.where(col(SecretConsumer.rotation_id).in_(rotation_ids))
    return {rotation_id: count for rotation_id, count in session.exec(statement).all() if rotation_id is not None}
