"""What the rotation API returns: the rotation object (rotation §3.1), generated credentials (rotation §5.8) and the
credential history (rotation §14h). Reads only; decrypts only what the caller is allowed to see.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.catalogue import RotationType
from app.models import AppConnection, Environment, RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.models.sealed import ROTATION_KEY, ROTATION_MESSAGE
from app.schemas.rotations import (
    ConnectionRef,
    EnvironmentRef,
    FolderRef,
    GeneratedCredentials,
    HistoryEntry,
    RotateAtUtc,
    RotationPublic,
)
from app.services import revocation_policy
from app.store.secrets import folder_id
from app.timeutil import iso


def decrypt_message(rotation: SecretRotation) -> str | None:
    if rotation.last_rotation_message is None:
        return None
    return ROTATION_MESSAGE.open(rotation.id, rotation.last_rotation_message)


def rotation_public(rotation: SecretRotation, environment: Environment, connection: AppConnection) -> RotationPublic:
    folder = folder_id(rotation.project_id, rotation.environment_id, rotation.secret_path)
    return RotationPublic(
        id=rotation.id,
        name=rotation.name,
        description=rotation.description,
        type=rotation.type,
        parameters=dict(rotation.parameters or {}),
        secrets_mapping=dict(rotation.secrets_mapping or {}),
        is_auto_rotation_enabled=rotation.is_auto_rotation_enabled,
        active_index=rotation.active_index,
        folder_id=folder,
        connection_id=rotation.connection_id,
        created_at=iso(rotation.created_at),
        updated_at=iso(rotation.updated_at),
        rotation_interval=rotation.rotation_interval,
        rotate_at_utc=RotateAtUtc(hours=rotation.rotate_at_hours, minutes=rotation.rotate_at_minutes),
        rotation_status=rotation.rotation_status,
        last_rotation_attempted_at=iso(rotation.last_rotation_attempted_at),
        last_rotated_at=iso(rotation.last_rotated_at),
        last_rotation_job_id=rotation.last_rotation_job_id,
        next_rotation_at=iso(rotation.next_rotation_at),
        is_last_rotation_manual=rotation.is_last_rotation_manual,
        last_rotation_message=decrypt_message(rotation),
        connection=ConnectionRef(app=connection.app, name=connection.name, id=connection.id),
        environment=EnvironmentRef(slug=environment.slug, name=environment.name, id=environment.id),
        project_id=rotation.project_id,
        folder=FolderRef(id=folder, path=rotation.secret_path),
        revocation=revocation_policy.view(rotation),
    )


def view(session: Session, rotation: SecretRotation) -> RotationPublic:
    environment = session.get_one(Environment, rotation.environment_id)  # foreign keys: both rows exist
    connection = session.get_one(AppConnection, rotation.connection_id)
    return rotation_public(rotation, environment, connection)


def views(session: Session, rotations: list[SecretRotation]) -> list[RotationPublic]:
    """Many rotations with one query each for their environments and connections."""
    env_ids = {r.environment_id for r in rotations}
    conn_ids = {r.connection_id for r in rotations}
    environments = (
        {e.id: e for e in session.exec(select(Environment).where(col(Environment.id).in_(env_ids))).all()}
        if env_ids
        else {}
    )
    connections = (
        {c.id: c for c in session.exec(select(AppConnection).where(col(AppConnection.id).in_(conn_ids))).all()}
        if conn_ids
        else {}
    )
    return [rotation_public(r, environments[r.environment_id], connections[r.connection_id]) for r in rotations]


def generated_credentials(session: Session, rotation: SecretRotation, rtype: RotationType) -> GeneratedCredentials:
    """The live keys in their slots (rotation §5.8): slot 0 first; `activeIndex` points at the published one."""
    rows = session.exec(
        select(RotationCredential)
        .where(
            RotationCredential.rotation_id == rotation.id,
            col(RotationCredential.state).in_((CredentialState.ACTIVE, CredentialState.INACTIVE)),
            col(RotationCredential.slot).is_not(None),
        )
        .order_by(col(RotationCredential.generation))
    ).all()
    by_slot: dict[int, RotationCredential] = {}
    for row in rows:  # ordered by generation, so a newer row wins a slot
        if row.slot is not None:  # always, by the query
            by_slot[row.slot] = row
    key_field, id_field = rtype.credential_fields
    credentials: list[dict[str, str]] = []
    active_index = rotation.active_index
    for slot in sorted(by_slot):
        row = by_slot[slot]
        if row.state == CredentialState.ACTIVE:
            active_index = len(credentials)
        api_key = ROTATION_KEY.open(row.id, row.encrypted_key) if row.encrypted_key else ""
        credentials.append({key_field: api_key, id_field: row.key_id or ""})
    return GeneratedCredentials(
        generated_credentials=credentials, active_index=active_index, rotation_id=rotation.id, type=rotation.type
    )


def history(session: Session, rotation: SecretRotation) -> list[HistoryEntry]:
    """Every generation, newest first, without key material (rotation §14h)."""
    rows = session.exec(
        select(RotationCredential)
        .where(RotationCredential.rotation_id == rotation.id)
        .order_by(col(RotationCredential.generation).desc())
    ).all()
    return [
        HistoryEntry(
            generation=row.generation,
            key_name=row.key_name,
            key_id=row.key_id,
            state=row.state,
            created_at=iso(row.created_at),
            published_at=iso(row.published_at),
            revoked_at=iso(row.revoked_at),
            last_error=row.last_error,
            superseded_at=iso(row.superseded_at),
            held_since=iso(row.held_since),
            hold_reason=row.hold_reason,
        )
        for row in rows
    ]
