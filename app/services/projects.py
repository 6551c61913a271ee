"""Projects and their environments (identity §4)."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Collection

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from app.auth.permissions import can
from app.auth.principal import Principal
from app.errors import BadRequest, NotFound
from app.models import AppConnection, Environment, Project, RotationCredential, Secret, SecretRotation
from app.models.credential import OPEN_STATES
from app.schemas.paging import LIST_CAP
from app.schemas.projects import EnvironmentCreate, ProjectCreate, ProjectUpdate
from app.services.constraints import violation_as
from app.store import projects as projects_store
from app.timeutil import utcnow

DEFAULT_ENVIRONMENTS = (("Development", "dev"), ("Staging", "staging"), ("Production", "prod"))
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def generate_slug(project_name: str) -> str:
    """Slugify the name, cut to 31 characters, then add `-` and 4 random characters (fits 36)."""
    base = re.sub(r"[^a-z0-9]+", "-", project_name.lower()).strip("-")
    base = base[:31].strip("-") or "project"
    return f"{base}-{''.join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(4))}"


def _duplicate_slug(slug: str) -> BadRequest:
    return BadRequest(
        f'A project with the slug "{slug}" already exists in your organization. Please choose a different name or slug.'
    )


def _slug_taken(session: Session, slug: str, *, other_than: str | None = None) -> bool:
    query = select(Project.id).where(Project.slug == slug)
    if other_than is not None:
        query = query.where(Project.id != other_than)
    return session.exec(query).first() is not None


def get_project(session: Session, project_id: str, *, for_update: bool = False) -> Project:
    if "\x00" in project_id:  # PostgreSQL cannot even compare such a string; no id contains one
        raise NotFound(f"Project with ID '{project_id}' not found")
    query = select(Project).where(Project.id == project_id)
    if for_update:
        query = query.with_for_update()
    project = session.exec(query).first()
    if project is None:
        raise NotFound(f"Project with ID '{project_id}' not found")
    return project


def get_visible_project_by_slug(session: Session, principal: Principal, slug: str) -> Project:
    """A project by slug (clients §6); one the caller may not read answers as an unknown one, a 404."""
    project = projects_store.by_slug(session, slug)
    if not can(principal, "read", "project", project_id=project.id):
        raise projects_store.slug_not_found(slug)
    return project


def environments_of(session: Session, project_id: str) -> list[Environment]:
    return list(
        session.exec(
            select(Environment).where(Environment.project_id == project_id).order_by(col(Environment.position))
        ).all()
    )


def create_project(session: Session, *, body: ProjectCreate) -> tuple[Project, list[Environment]]:
    if "kmsKeyId" in body.model_fields_set:
        raise BadRequest("kmsKeyId is not supported by keyturn")
    if body.template is not None and body.template != "default":
        raise BadRequest("Project templates are not supported by keyturn")
    slug = body.slug or generate_slug(body.projectName)
    if _slug_taken(session, slug):
        raise _duplicate_slug(slug)
    now = utcnow()
    project = Project(
        name=body.projectName,
        slug=slug,
        description=body.projectDescription,
        has_delete_protection=body.hasDeleteProtection,
        created_at=now,
        updated_at=now,
    )
    environments = []
    if body.shouldCreateDefaultEnvs:
        environments = [
            Environment(
                project_id=project.id, name=name, slug=env_slug, position=position, created_at=now, updated_at=now
            )
            for position, (name, env_slug) in enumerate(DEFAULT_ENVIRONMENTS, start=1)
        ]
    with violation_as(session, _duplicate_slug(slug)):
        session.add(project)
        session.flush()  # the project row first: environments reference it
        session.add_all(environments)
    return project, environments


def list_projects(
    session: Session, *, type_filter: str | None, only: Collection[str] | None
) -> list[tuple[Project, list[Environment]]]:
    """The first LIST_CAP projects by creation, among `only` when given (None: every project), with their
    environments. P3 has no paging in Infisical; the cap is in the query, so no request loads every row."""
    if type_filter is not None and type_filter != "secret-manager":
        return []
    query = select(Project).order_by(col(Project.created_at), col(Project.id)).limit(LIST_CAP)
    if only is not None:
        query = query.where(col(Project.id).in_(only))
    projects = session.exec(query).all()
    envs: dict[str, list[Environment]] = {p.id: [] for p in projects}
    if envs:
        rows = session.exec(
            select(Environment).where(col(Environment.project_id).in_(envs)).order_by(col(Environment.position))
        )
        for env in rows.all():
            envs[env.project_id].append(env)
    return [(p, envs[p.id]) for p in projects]


def update_project(session: Session, project: Project, *, body: ProjectUpdate) -> Project:
    fields = body.model_fields_set
    if "name" in fields and body.name is not None:
        project.name = body.name
    if "description" in fields:
        project.description = body.description
    if "slug" in fields and body.slug is not None and body.slug != project.slug:
        if _slug_taken(session, body.slug, other_than=project.id):
            raise _duplicate_slug(body.slug)
        project.slug = body.slug
    if "hasDeleteProtection" in fields and body.hasDeleteProtection is not None:
        project.has_delete_protection = body.hasDeleteProtection
    project.updated_at = utcnow()
    with violation_as(session, _duplicate_slug(project.slug)):
        session.add(project)
    return project


def delete_project(session: Session, project: Project) -> Project:
    """Refuse while rotations or pending revocations exist; otherwise delete the project and what it owns."""
    if project.has_delete_protection:
        raise BadRequest("Project delete protection is enabled")
    if session.exec(select(SecretRotation.id).where(SecretRotation.project_id == project.id)).first():
        raise BadRequest("Cannot delete a project that still has secret rotations. Delete them first.")
    connection_ids = select(AppConnection.id).where(AppConnection.project_id == project.id)
    pending = session.exec(
        select(RotationCredential.id).where(
            col(RotationCredential.connection_id).in_(connection_ids),
            col(RotationCredential.state).in_(OPEN_STATES),
        )
    ).first()
    if pending:
        raise BadRequest("Cannot delete a project while key revocations are pending for its connections.")
    # A rotation or a key intent that appears meanwhile makes a delete below violate its foreign key.
    with violation_as(
        session, BadRequest("Cannot delete a project that still has secret rotations. Delete them first.")
    ):
        # Closed key history of already-deleted rotations would otherwise pin the project's connections.
        session.execute(delete(RotationCredential).where(col(RotationCredential.connection_id).in_(connection_ids)))
        session.execute(delete(Secret).where(col(Secret.project_id) == project.id))
        session.execute(delete(AppConnection).where(col(AppConnection.project_id) == project.id))
        session.execute(delete(Environment).where(col(Environment.project_id) == project.id))
        session.delete(project)
    return project


def create_environment(session: Session, project_id: str, *, body: EnvironmentCreate) -> Environment:
    """Insert at `position` (default last), keeping positions dense from 1 to n."""
    project = get_project(session, project_id, for_update=True)  # serialises position changes per project
    if session.exec(
        select(Environment.id).where(Environment.project_id == project.id, Environment.slug == body.slug)
    ).first():
        raise BadRequest("Environment with slug already exists")
    count = session.exec(
        select(func.count()).select_from(Environment).where(Environment.project_id == project.id)
    ).one()
    position = min(body.position or count + 1, count + 1)
    now = utcnow()
    env = Environment(
        project_id=project.id, name=body.name, slug=body.slug, position=position, created_at=now, updated_at=now
    )
    with violation_as(session, BadRequest("Environment with slug already exists")):
        if position <= count:
            session.execute(
                update(Environment)
                .where(col(Environment.project_id) == project.id, col(Environment.position) >= position)
                .values(position=col(Environment.position) + 1, updated_at=now)
            )
        session.add(env)
    return env
