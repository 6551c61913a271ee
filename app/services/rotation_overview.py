"""Every rotation the caller may read, across projects, with what an operator asks first (issue 15): is it
failing or held, when did it last succeed, when is it next due, how many keys are live, who has not moved on.

A fixed number of queries whatever the count (rotations with their names, live keys, held keys, lagging
consumers); the read permission is the same `can` check R2 applies to each row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app import catalogue
from app.auth.permissions import can
from app.auth.principal import Principal
from app.models import AppConnection, Environment, Project, RotationCredential, SecretRotation
from app.services.consumers_view import LIVE
from app.services.rotation_views import decrypt_message
from app.services.rotations import SUBJECT
from app.store import consumers as consumer_store

# The order rows sort in: what needs a person first.
STATUSES = ("failed", "held", "paused", "ok")


@dataclass(frozen=True)
class OverviewRow:
    id: str
    name: str
    type: str
    provider: str
    project_id: str
    project_name: str
    environment: str
    secret_path: str
    status: str  # one of STATUSES
    message: str | None  # the last failure's message, for a failed rotation only
    last_rotated_at: datetime
    next_rotation_at: datetime | None
    live_keys: int
    unmigrated: int


@dataclass(frozen=True)
class OverviewPage:
    rows: list[OverviewRow]
    total: int  # rows matching the filters, over every page
    page: int
    pages: int
    projects: list[tuple[str, str]]  # (id, name) of the projects the caller can see rotations in, for filters


def _status(rotation: SecretRotation, held: bool) -> str:
    if rotation.rotation_status == "failed":
        return "failed"
    if held:
        return "held"
    return "ok" if rotation.is_auto_rotation_enabled else "paused"


def _counts(session: Session, statement) -> dict[str, int]:
    return dict(session.exec(statement).all())


def overview(
    session: Session,
    principal: Principal,
    *,
    project_id: str | None = None,
    status: str | None = None,
    provider: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> OverviewPage:
    query = (
        select(SecretRotation, Environment.slug, Project.name, AppConnection.app)
        .join(Environment, col(Environment.id) == SecretRotation.environment_id)
        .join(Project, col(Project.id) == SecretRotation.project_id)
        .join(AppConnection, col(AppConnection.id) == SecretRotation.connection_id)
    )
    if provider:
        query = query.where(col(AppConnection.app) == provider)
    readable = [
        (rotation, env, project_name, app)
        for rotation, env, project_name, app in session.exec(query).all()
        if catalogue.rotation_type(rotation.type) is not None
        and can(
            principal,
            "read",
            SUBJECT,
            project_id=rotation.project_id,
            environment=env,
            secretPath=rotation.secret_path,
            connectionId=rotation.connection_id,
        )
    ]
    projects = sorted({(r.project_id, name) for r, _e, name, _a in readable}, key=lambda p: (p[1], p[0]))
    if project_id:
        readable = [item for item in readable if item[0].project_id == project_id]
    live = _counts(
        session,
        select(RotationCredential.rotation_id, func.count())
        .where(col(RotationCredential.state).in_(LIVE), col(RotationCredential.key_id).is_not(None))
        .group_by(col(RotationCredential.rotation_id)),
    )
    held = set(
        session.exec(
            select(RotationCredential.rotation_id)
            .where(col(RotationCredential.state).in_(LIVE), col(RotationCredential.held_since).is_not(None))
            .distinct()
        ).all()
    )
    unmigrated = consumer_store.unmigrated_counts(session)
    rows = [
        _row(rotation, env, project_name, app, rotation.id in held, live, unmigrated)
        for rotation, env, project_name, app in readable
    ]
    if status:
        rows = [row for row in rows if row.status == status]
    rows.sort(key=lambda r: (STATUSES.index(r.status), r.project_name, r.environment, r.secret_path, r.name))
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    return OverviewPage(rows[start : start + per_page], len(rows), page, pages, projects)


def _row(
    rotation: SecretRotation,
    env: str,
    project_name: str,
    app: str,
    held: bool,
    live: dict[str, int],
    unmigrated: dict[str, int],
) -> OverviewRow:
    status = _status(rotation, held)
    return OverviewRow(
        id=rotation.id,
        name=rotation.name,
        type=rotation.type,
        provider=catalogue.app_name(app),
        project_id=rotation.project_id,
        project_name=project_name,
        environment=env,
        secret_path=rotation.secret_path,
        status=status,
        message=decrypt_message(rotation) if status == "failed" else None,
        last_rotated_at=rotation.last_rotated_at,
        next_rotation_at=rotation.next_rotation_at,
        live_keys=live.get(rotation.id, 0),
        unmigrated=unmigrated.get(rotation.id, 0),
    )


def providers() -> Iterable[tuple[str, str]]:
    """(slug, name) of every provider, for the filter."""
    return [(a.slug, a.name) for a in catalogue.apps()]
