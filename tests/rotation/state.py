"""Set-up and inspection helpers for the engine tests: real rows, real emulator state."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from app import db
from app.models import Environment, RotationCredential, Secret, SecretRotation
from app.rotation import engine
from app.services import secrets_store


def new_rotation(project: dict, connection: dict, *, name: str = "my-rotation", interval: int = 30,
                 enabled: bool = True, key_name: str = "my-app-key") -> SecretRotation:
    with Session(db.engine()) as session:
        env = session.exec(select(Environment).where(Environment.project_id == project["id"],
                                                     Environment.slug == "dev")).one()
        env_id = env.id
    return SecretRotation(
        id=str(uuid.uuid4()), project_id=project["id"], environment_id=env_id, secret_path="/", name=name,
        type="open-router-api-key", connection_id=connection["id"], parameters={"name": key_name},
        secrets_mapping={"apiKey": "OPEN_ROUTER_API_KEY"}, is_auto_rotation_enabled=enabled,
        rotation_interval=interval, rotate_at_hours=0, rotate_at_minutes=0,
        last_rotation_attempted_at=None, last_rotated_at=None,
    )


def create(project: dict, connection: dict, **kwargs) -> SecretRotation:
    return engine.create_rotation(new_rotation(project, connection, **kwargs), secret_name="OPEN_ROUTER_API_KEY",
                                  recheck=lambda session: None)


def credentials(rotation_id: str) -> list[RotationCredential]:
    with Session(db.engine()) as session:
        return list(session.exec(select(RotationCredential).where(RotationCredential.rotation_id == rotation_id)
                                 .order_by(RotationCredential.generation)).all())


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


def live_names(openrouter) -> set[str]:
    return {k["name"] for k in openrouter.live_keys()}


def live_ids(openrouter) -> set[str]:
    return {k["hash"] for k in openrouter.live_keys()}


def update_row(rotation_id: str, **values) -> None:
    with Session(db.engine()) as session:
        rotation = session.get(SecretRotation, rotation_id)
        for field, value in values.items():
            setattr(rotation, field, value)
        session.add(rotation)
        session.commit()
