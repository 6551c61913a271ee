"""Every rotation the caller may read, across projects, with what an operator asks first (issue 15): is it
failing or held, when did it last succeed, when is it next due, how many keys are live, who has not moved on.

Fast at thousands of rotations: the read permission (the `can` check R2 applies to each row) depends only on
a rotation's project, environment and path, so it is asked once per such group; the filters, the status, the
sort and the page are SQL; only the page's rows are read in full, and only they get counts and messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, literal, not_, select, tuple_
from sqlmodel import Session, col

from app import catalogue
from app.auth.permissions import can
from app.auth.principal import Principal
from app.models import AppConnection, Environment, Project, RotationCredential, SecretRotation
from app.models.sealed import ROTATION_MESSAGE
from app.services.consumers_view import LIVE
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


_HELD = select(col(RotationCredential.rotation_id)).where(
    col(RotationCredential.state).in_(LIVE), col(RotationCredential.held_since).is_not(None)
)
# STATUSES.index(status), in SQL: a failure outranks a hold, a hold outranks a pause.
_STATUS_RANK = case(
    (col(SecretRotation.rotation_status) == "failed", 0),
    (col(SecretRotation.id).in_(_HELD), 1),
    (not_(col(SecretRotation.is_auto_rotation_enabled)), 2),
    else_=3,
)


def _readable(session: Session, principal: Principal) -> tuple[ColumnElement[bool] | None, list[tuple[str, str]]]:
    """The condition that keeps only rotations the caller may read (None: none of them), and their projects."""
    known = col(SecretRotation.type).in_([t.slug for t in catalogue.rotation_types()])
    groups = session.execute(
        select(
            col(SecretRotation.project_id),
            col(Project.name),
            col(SecretRotation.environment_id),
            col(Environment.slug),
            col(SecretRotation.secret_path),
        )
        .join(Environment, col(Environment.id) == SecretRotation.environment_id)
        .join(Project, col(Project.id) == SecretRotation.project_id)
        .where(known)
        .distinct()
    ).all()
    allowed = [
        (project_id, project_name, environment_id, path)
        for project_id, project_name, environment_id, slug, path in groups
        if can(principal, "read", SUBJECT, project_id=project_id, environment=slug, secretPath=path)
    ]
    projects = sorted({(p, name) for p, name, _e, _s in allowed}, key=lambda p: (p[1], p[0]))
    if len(allowed) == len(groups):
        return known, projects
    if not allowed:
        return None, projects
    group = tuple_(col(SecretRotation.project_id), col(SecretRotation.environment_id), col(SecretRotation.secret_path))
    return and_(known, group.in_([(p, e, s) for p, _n, e, s in allowed])), projects


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
    readable, projects = _readable(session, principal)
    if readable is None:
        return OverviewPage([], 0, 1, 1, projects)
    conditions: list[ColumnElement[bool]] = [readable]
    if project_id:
        conditions.append(col(SecretRotation.project_id) == project_id)
    if status in STATUSES:
        conditions.append(literal(STATUSES.index(status)) == _STATUS_RANK)
    if provider:
        conditions.append(col(AppConnection.app) == provider)
    total = session.execute(
        select(func.count())
        .select_from(SecretRotation)
        .join(AppConnection, col(AppConnection.id) == SecretRotation.connection_id)
        .where(*conditions)
    ).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    found = session.execute(
        select(
            col(SecretRotation.id),
            col(SecretRotation.name),
            col(SecretRotation.type),
            col(AppConnection.app),
            col(SecretRotation.project_id),
            col(Project.name),
            col(Environment.slug),
            col(SecretRotation.secret_path),
            _STATUS_RANK,
            col(SecretRotation.last_rotation_message),
            col(SecretRotation.last_rotated_at),
            col(SecretRotation.next_rotation_at),
        )
        .join(Environment, col(Environment.id) == SecretRotation.environment_id)
        .join(Project, col(Project.id) == SecretRotation.project_id)
        .join(AppConnection, col(AppConnection.id) == SecretRotation.connection_id)
        .where(*conditions)
        .order_by(
            _STATUS_RANK,
            col(Project.name),
            col(Environment.slug),
            col(SecretRotation.secret_path),
            col(SecretRotation.name),
        )
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    ids = [found_row[0] for found_row in found]
    live_keys = (
        select(col(RotationCredential.rotation_id), func.count())
        .where(
            col(RotationCredential.rotation_id).in_(ids),
            col(RotationCredential.state).in_(LIVE),
            col(RotationCredential.key_id).is_not(None),
        )
        .group_by(col(RotationCredential.rotation_id))
    )
    live: dict[str, int] = {rotation_id: count for rotation_id, count in session.execute(live_keys)}
    unmigrated = consumer_store.unmigrated_counts(session, ids)
    rows = [
        OverviewRow(
            id=rid,
            name=name,
            type=rtype,
            provider=catalogue.app_name(app),
            project_id=pid,
            project_name=pname,
            environment=env,
            secret_path=path,
            status=STATUSES[rank],
            message=ROTATION_MESSAGE.open(rid, sealed) if rank == 0 and sealed else None,
            last_rotated_at=last,
            next_rotation_at=next_due,
            live_keys=live.get(rid, 0),
            unmigrated=unmigrated.get(rid, 0),
        )
        for rid, name, rtype, app, pid, pname, env, path, rank, sealed, last, next_due in found
    ]
    return OverviewPage(rows, total, page, pages, projects)


def providers() -> Iterable[tuple[str, str]]:
    """(slug, name) of every provider, for the filter."""
    return [(a.slug, a.name) for a in catalogue.apps()]
