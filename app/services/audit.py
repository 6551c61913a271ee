"""Reading the audit log back: filters, paging and the public shape of an entry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import AuditLog
from app.timeutil import iso


def list_entries(
    session: Session,
    *,
    event: str | None = None,
    actor: str | None = None,
    project_id: str | None = None,
    resource_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditLog], int]:
    """Newest first; `start` inclusive, `end` exclusive."""
    query = select(AuditLog)
    if event:
        query = query.where(AuditLog.event == event)
    if actor:
        query = query.where(AuditLog.actor == actor)
    if project_id:
        query = query.where(AuditLog.project_id == project_id)
    if resource_id:
        query = query.where(AuditLog.resource_id == resource_id)
    if start is not None:
        query = query.where(AuditLog.created_at >= start)
    if end is not None:
        query = query.where(AuditLog.created_at < end)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AuditLog.created_at).desc(), col(AuditLog.id)).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def entry_public(entry: AuditLog) -> dict:
    return {
        "id": entry.id,
        "eventType": entry.event,
        "actor": entry.actor,
        "projectId": entry.project_id,
        "resourceType": entry.resource_type,
        "resourceId": entry.resource_id,
        "ipAddress": entry.ip_address,
        "metadata": entry.metadata_entries,
        "createdAt": iso(entry.created_at),
    }
