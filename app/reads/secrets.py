"""Find and render secrets for a caller (consumer §5–§6): resolve the project, check, find, render.

Order (identity §9.3): project 404, then the permission check on the requested environment and
path, so a 403 never reveals whether a secret exists; then the environment and the secret.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlmodel import Session, select

from app.auth.permissions import denial, refusal
from app.auth.principal import Principal
from app.errors import NotFound
from app.models import Environment, Project, Secret
from app.reads.query import SecretQuery
from app.store.consumers import RotatedRead
from app.store.secrets import decrypt_value
from app.timeutil import iso

HIDDEN_VALUE = "<hidden-by-infisical>"


@dataclass(frozen=True)
class SecretRead:
    """One rendered secret, and what the audit log, the consumer record and ETag need."""

    view: dict
    etag: str
    project_id: str
    secret_id: str
    rotated: RotatedRead | None = None  # set when a rotation owns the secret


def resolve_project(session: Session, query: SecretQuery) -> Project:
    if query.project_id is not None:
        project = session.get(Project, query.project_id)
        if project is None:
            raise NotFound(f"Project with ID '{query.project_id}' not found")
        return project
    project = session.exec(select(Project).where(Project.slug == query.project_slug)).first()
    if project is None:
        raise NotFound(f"Project with slug '{query.project_slug}' not found")
    return project


def _require(principal: Principal, action: str, project_id: str, environment: str, path: str) -> None:
    reason = refusal(principal, action, "secrets", project_id=project_id, environment=environment, secretPath=path)
    if reason is not None:
        raise denial(action, "secrets", reason, {"environment": environment, "secretPath": path})


def _environment(session: Session, project_id: str, slug: str, path: str) -> Environment:
    env = session.exec(
        select(Environment).where(Environment.project_id == project_id, Environment.slug == slug)
    ).first()
    if env is None:
        raise NotFound(f"Folder with path '{path}' in environment with slug '{slug}' not found")
    return env


def etag_for(secret: Secret, hidden: bool) -> str:
    """A strong validator: changes with the secret's version (every rotation) and any rename or edit."""
    basis = f"{secret.id}\n{secret.version}\n{iso(secret.updated_at)}\n{secret.key}\n{int(hidden)}"
    return '"' + hashlib.sha256(basis.encode()).hexdigest()[:32] + '"'


def secret_view(secret: Secret, environment_slug: str, *, hidden: bool) -> dict:
    return {
        "id": secret.id,
        "_id": secret.id,
        "workspace": secret.project_id,
        "environment": environment_slug,
        "version": secret.version,
        "type": secret.type,
        "secretKey": secret.key,
        "secretValue": HIDDEN_VALUE if hidden else decrypt_value(secret),
        "secretValueHidden": hidden,
        "secretComment": secret.comment or "",
        "secretReminderNote": None,
        "secretReminderRepeatDays": None,
        "skipMultilineEncoding": False,
        "secretPath": secret.secret_path,
        "createdAt": iso(secret.created_at),
        "updatedAt": iso(secret.updated_at),
        "tags": [],
        "secretMetadata": [],
        "isRotatedSecret": secret.rotation_id is not None,
        "rotationId": secret.rotation_id,
    }


def read_secret(session: Session, principal: Principal, query: SecretQuery, name: str) -> SecretRead:
    project = resolve_project(session, query)
    action = "readValue" if query.view_value else "describeSecret"
    _require(principal, action, project.id, query.environment, query.secret_path)
    env = _environment(session, project.id, query.environment, query.secret_path)
    secret = None
    if query.secret_type == "shared":
        secret = session.exec(
            select(Secret).where(
                Secret.environment_id == env.id,
                Secret.secret_path == query.secret_path,
                Secret.key == name,
            )
        ).first()
    # Only the current value is kept: an older version is not found.
    if secret is None or (query.version is not None and query.version != secret.version):
        raise NotFound(f"Secret with name '{name}' not found")
    hidden = not query.view_value
    view = secret_view(secret, env.slug, hidden=hidden)
    return SecretRead(view, etag_for(secret, hidden), project.id, secret.id, RotatedRead.of(secret))


def _under(prefix: str, path: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def list_secrets(
    session: Session, principal: Principal, query: SecretQuery
) -> tuple[str, list[dict], list[RotatedRead]]:
    """(project id, rendered secrets, the rotation-owned ones among them) at the path, or under it with
    `recursive`; out-of-scope sub-paths left out."""
    project = resolve_project(session, query)
    _require(principal, "describeSecret", project.id, query.environment, query.secret_path)
    if query.view_value:
        _require(principal, "readValue", project.id, query.environment, query.secret_path)
    env = _environment(session, project.id, query.environment, query.secret_path)
    if query.secret_type != "shared":
        return project.id, [], []
    statement = select(Secret).where(Secret.environment_id == env.id)
    if not query.recursive:
        statement = statement.where(Secret.secret_path == query.secret_path)
    rows = session.exec(statement.order_by(Secret.secret_path, Secret.key)).all()
    action = "readValue" if query.view_value else "describeSecret"
    views = []
    rotated = []
    for secret in rows:
        if not _under(query.secret_path, secret.secret_path):
            continue
        if (
            secret.secret_path != query.secret_path
            and refusal(
                principal,
                action,
                "secrets",
                project_id=project.id,
                environment=env.slug,
                secretPath=secret.secret_path,
            )
            is not None
        ):
            continue
        views.append(secret_view(secret, env.slug, hidden=not query.view_value))
        if (read := RotatedRead.of(secret)) is not None:
            rotated.append(read)
    return project.id, views, rotated
