"""The audit log writer. Other code calls `record(...)` inside its own transaction: one cheap insert.

Metadata is filtered here, so no caller can store a secret by accident: keys that name a secret value,
token, password, hash or credential are dropped (ids, prefixes, names and paths are kept).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.auth import clock
from app.auth.principal import Principal
from app.models import AuditLog
from app.timeutil import iso

_SENSITIVE = re.compile(r"secret|token|password|passwd|apikey|api_key|credential|hash|value|key$", re.I)
_SAFE_SUFFIX = re.compile(r"(id|ids|prefix|name|names|path|paths|type|count|mapping|ttl|limit|ips|uses)$", re.I)
_MAX_STRING = 512


def _clean(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v, depth + 1) for k, v in value.items() if not is_sensitive_key(str(k))}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in list(value)[:100]]
    if isinstance(value, str):
        return value[:_MAX_STRING]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:_MAX_STRING]


def is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE.search(key)) and not _SAFE_SUFFIX.search(key)


def record(session: Session, *, actor: Principal | str, event: str, project_id: str | None = None,
           resource_type: str | None = None, resource_id: str | None = None,
           metadata: dict | None = None) -> AuditLog:
    """Add one audit row to the caller's session; the caller's commit writes it."""
    ip = None
    if isinstance(actor, Principal):
        ip = actor.client_ip
        actor = actor.actor
    entry = AuditLog(
        created_at=clock.now(),
        actor=actor,
        event=event,
        project_id=project_id,
        resource_type=resource_type,
        resource_id=resource_id,
        ip_address=ip,
        metadata_entries=_clean(metadata or {}),
    )
    session.add(entry)
    return entry


def list_entries(session: Session, *, event: str | None = None, actor: str | None = None,
                 project_id: str | None = None, start: datetime | None = None, end: datetime | None = None,
                 offset: int = 0, limit: int = 50) -> tuple[list[AuditLog], int]:
    """Newest first; `start` inclusive, `end` exclusive."""
    query = select(AuditLog)
    if event:
        query = query.where(AuditLog.event == event)
    if actor:
        query = query.where(AuditLog.actor == actor)
    if project_id:
        query = query.where(AuditLog.project_id == project_id)
    if start is not None:
        query = query.where(AuditLog.created_at >= start)
    if end is not None:
        query = query.where(AuditLog.created_at < end)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(AuditLog.created_at.desc(), AuditLog.id).offset(offset).limit(limit)).all()
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
