"""Set-up and inspection helpers for the engine tests: real rows, real emulator state. Set-up takes the
`provider_case` (tests/rotation/cases.py), so the same helper makes an OpenRouter or an ARouter rotation."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from app import db
from app.models import Environment, RotationCredential, Secret, SecretRotation
from app.rotation import engine
from app.store import secrets as secrets_store
from tests.rotation.cases import ProviderCase


def new_rotation(
    case: ProviderCase,
    *,
    name: str = "my-rotation",
    interval: int = 30,
    enabled: bool = True,
    key_name: str = "my-app-key",
) -> SecretRotation:
    """An unsaved rotation of the case's type, with the type's full parameters (the key name overridable)."""
    project_id = case.project["id"]
    with Session(db.engine()) as session:
        env = session.exec(
            select(Environment).where(Environment.project_id == project_id, Environment.slug == "dev")
        ).one()
        env_id = env.id
    return SecretRotation(
        id=str(uuid.uuid4()),
        project_id=project_id,
        environment_id=env_id,
        secret_path="/",
        name=name,
        type=case.rotation_type,
        connection_id=case.connection["id"],
        parameters={**case.parameters, "name": key_name},
        secrets_mapping={"apiKey": case.secret_name},
        is_auto_rotation_enabled=enabled,
        rotation_interval=interval,
        rotate_at_hours=0,
        rotate_at_minutes=0,
        last_rotation_attempted_at=None,
        last_rotated_at=None,
    )


def create_draft(case: ProviderCase, draft: SecretRotation, recheck=lambda session: None) -> SecretRotation:
    return engine.create_rotation(draft, secret_name=case.secret_name, recheck=recheck)


def create(case: ProviderCase, **kwargs) -> SecretRotation:
    return create_draft(case, new_rotation(case, **kwargs))


def credentials(rotation_id: str) -> list[RotationCredential]:
    with Session(db.engine()) as session:
        return list(
            session.exec(
                select(RotationCredential)
                .where(RotationCredential.rotation_id == rotation_id)
                .order_by(RotationCredential.generation)
            ).all()
        )


def states(rotation_id: str) -> dict[int, str]:
    return {c.generation: c.state for c in credentials(rotation_id)}


def row(rotation_id: str) -> SecretRotation | None:
    with Session(db.engine()) as session:
        return session.get(SecretRotation, rotation_id)


def secret(rotation_id: str) -> Secret:
    with Session(db.engine()) as session:
        return session.exec(select(Secret).where(Secret.rotation_id == rotation_id)).one()


def published_key(rotation_id: str) -> str:
    return secrets_store.decrypt_value(secret(rotation_id))


def update_row(rotation_id: str, **values) -> None:
    with Session(db.engine()) as session:
        rotation = session.get(SecretRotation, rotation_id)
        for field, value in values.items():
            setattr(rotation, field, value)
        session.add(rotation)
        session.commit()


def update_credential(credential_id: str, **values) -> None:
    with Session(db.engine()) as session:
        credential = session.get(RotationCredential, credential_id)
        for field, value in values.items():
            setattr(credential, field, value)
        session.add(credential)
        session.commit()
