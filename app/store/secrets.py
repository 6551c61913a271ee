"""Mapped secrets at (project, environment, path, key): create, read, publish a new value, rename.

Values are sealed with app.models.sealed.SECRET_VALUE, bound to their row. Rotations write
their keys here; the consumer read API reads them back. Callers own the transaction: nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, bindparam, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from app.models import Environment, Secret
from app.models.base import new_id
from app.models.sealed import SECRET_VALUE
from app.models.tables import SECRETS
from app.timeutil import utcnow

# A namespace of our own for folder ids, so the same folder always gets the same id.
_FOLDER_NAMESPACE = uuid.UUID("6c1f4f8e-2a52-4b8e-9d55-7a0b1e3c9f21")


def folder_id(project_id: str, environment_id: str, path: str) -> str:
    """Folders are implicit (rotation §14a): a stable id for the tuple (project, environment, path)."""
    return str(uuid.uuid5(_FOLDER_NAMESPACE, f"{project_id}\n{environment_id}\n{path}"))


def find_secret(session: Session, project_id: str, environment_slug: str, path: str, key: str) -> Secret | None:
    """The secret `key` at a normalised `path`, or None (also when the environment does not exist)."""
    statement = (
        select(Secret)
        .join(Environment, col(Environment.id) == Secret.environment_id)
        .where(
            Secret.project_id == project_id,
            Environment.slug == environment_slug,
            Secret.secret_path == path,
            Secret.key == key,
        )
    )
    return session.exec(statement).first()


def find_secret_in(session: Session, environment_id: str, path: str, key: str) -> Secret | None:
    statement = select(Secret).where(
        Secret.environment_id == environment_id,
        Secret.secret_path == path,
        Secret.key == key,
    )
    return session.exec(statement).first()


def secrets_of_rotation(session: Session, rotation_id: str) -> list[Secret]:
    return list(session.exec(select(Secret).where(Secret.rotation_id == rotation_id)).all())


def decrypt_value(secret: Secret) -> str:
    return SECRET_VALUE.open(secret.id, secret.encrypted_value)


def create_secret(
    session: Session,
    *,
    project_id: str,
    environment_id: str,
    path: str,
    key: str,
    value: str,
    rotation_id: str | None = None,
    generation: int | None = None,
) -> Secret:
    """Add a new shared secret at version 1 (flushes, so a unique-key clash raises here). `generation`: the key
    generation a rotation-owned value holds."""
    secret_id = new_id()
    now = utcnow()
    secret = Secret(
        id=secret_id,
        project_id=project_id,
        environment_id=environment_id,
        secret_path=path,
        key=key,
        type="shared",
        version=1,
        rotation_id=rotation_id,
        rotation_generation=generation,
        created_at=now,
        updated_at=now,
        encrypted_value=SECRET_VALUE.seal(secret_id, value),
    )
    session.add(secret)
    session.flush()
    return secret


def set_value(session: Session, secret: Secret, value: str, *, generation: int | None = None) -> Secret:
    """Publish a new value: a new version, so consumers watching `version` see the change. `generation`: the key
    generation the value holds when a rotation publishes it (consumer records map versions to keys by it).

    Written at once by one Core UPDATE (no ORM flush: this is on every rotation's path); `secret` is brought up
    to date as if loaded afterwards."""
    changes = {
        "encrypted_value": SECRET_VALUE.seal(secret.id, value),
        "updated_at": utcnow(),
        "rotation_generation": generation,
    }
    session.execute(_SET_VALUE, {"p_id": secret.id, **{f"v_{name}": new for name, new in changes.items()}})
    for name, new in {**changes, "version": secret.version + 1}.items():
        set_committed_value(secret, name, new)
    return secret


# Built once: it runs on every rotation.
_SET_VALUE = (
    update(SECRETS)
    .where(SECRETS.c.id == bindparam("p_id"))
    .values(
        encrypted_value=bindparam("v_encrypted_value"),
        updated_at=bindparam("v_updated_at"),
        rotation_generation=bindparam("v_rotation_generation"),
        version=SECRETS.c.version + 1,
    )
)


def ids_mapped_by(rotation_id: ColumnElement[Any]) -> ScalarSelect[Any]:
    """The ids of the secrets a rotation maps, comma-joined (None if none), as a subquery correlated with
    `rotation_id`: for a statement that already reads or writes the rotation's row (the publish's lease write),
    so the ids cost no statement of their own. Read it back with `split_ids`."""
    return (
        sa_select(func.aggregate_strings(SECRETS.c.id, ","))
        .where(SECRETS.c.rotation_id == rotation_id)
        .scalar_subquery()
    )


def split_ids(joined: str | None) -> list[str]:
    return joined.split(",") if joined else []  # ids are UUIDs: never a comma in one


def set_values(session: Session, ids: Sequence[str], value: str, *, generation: int) -> int:
    """`set_value` for the secrets `ids` (a rotation's, read in this transaction). Returns how many were set."""
    now = utcnow()
    for secret_id in ids:
        sealed = SECRET_VALUE.seal(secret_id, value)
        params = {"v_encrypted_value": sealed, "v_updated_at": now, "v_rotation_generation": generation}
        session.execute(_SET_VALUE, {"p_id": secret_id, **params})
    return len(ids)


def rename_secret(session: Session, secret: Secret, new_key: str) -> Secret:
    """Rename in place; the value and version are unchanged (the caller checked the name is free)."""
    secret.key = new_key
    secret.updated_at = utcnow()
    session.add(secret)
    session.flush()
    return secret


def release_secrets(session: Session, rotation_id: str) -> None:
    """The rotation is going away but its secret stays: it becomes an ordinary, editable secret."""
    for secret in secrets_of_rotation(session, rotation_id):
        secret.rotation_id = None
        secret.rotation_generation = None
        secret.updated_at = utcnow()
        session.add(secret)


def delete_secrets_of(session: Session, rotation_id: str) -> None:
    for secret in secrets_of_rotation(session, rotation_id):
        session.delete(secret)
