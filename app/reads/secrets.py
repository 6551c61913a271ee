"""Find and render secrets for a caller (consumer §5–§6, clients §3–§5): resolve the project, check, find,
render. The v3 and v4 reads share all of it: their items have the same fields.

Order (identity §9.3): project 404, then the permission check on the requested environment and
path, so a 403 never reveals whether a secret exists; then the environment and the secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from app.auth.permissions import denial, refusal
from app.auth.principal import Principal
from app.errors import NotFound
from app.models import Environment, Project, Secret
from app.reads.query import SecretQuery
from app.store import projects
from app.store.consumers import RotatedRead
from app.store.secrets import decrypt_value
from app.timeutil import iso

HIDDEN_VALUE = "<hidden-by-infisical>"


@dataclass(frozen=True)
class SecretRead:
    """One rendered secret, and what the audit log and the consumer record need."""

    view: dict
    project_id: str
    secret_id: str
    rotated: RotatedRead | None = None  # set when a rotation owns the secret


def resolve_project(session: Session, query: SecretQuery) -> Project:
    """By id when one is given, else by slug (clients §5.1); the one organisation holds every project."""
    if query.project_slug is not None:  # set only when no id is (app.reads.query)
        return projects.by_slug(session, query.project_slug)
    project = session.get(Project, query.project_id)
    if project is None:
        raise NotFound(f"Project with ID '{query.project_id}' not found")
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
    view = secret_view(secret, env.slug, hidden=not query.view_value)
    return SecretRead(view, project.id, secret.id, RotatedRead.of(secret))


def _under(prefix: str, path: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def list_secrets(
    session: Session, principal: Principal, query: SecretQuery
) -> tuple[str, list[dict], list[RotatedRead]]:
    """(project id, rendered secrets, the rotation-owned ones among them) at the path, or under it with
    `recursive`; out-of-scope sub-paths left out. Sorted by path, then name, in code rather than by the
    database's collation, so the body, and so its ETag, is the same on every database (clients §5.3)."""
    project = resolve_project(session, query)
    _require(principal, "describeSecret", project.id, query.environment, query.secret_path)
    if query.view_value:
        _require(principal, "readValue", project.id, query.environment, query.secret_path)
    env = _environment(session, project.id, query.environment, query.secret_path)
    if query.secret_type != "shared" or query.tag_slugs:  # identities have no personal secrets; none has tags
        return project.id, [], []
    statement = select(Secret).where(Secret.environment_id == env.id)
    if not query.recursive:
        statement = statement.where(Secret.secret_path == query.secret_path)
    rows = sorted(session.exec(statement).all(), key=lambda secret: (secret.secret_path, secret.key))
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
