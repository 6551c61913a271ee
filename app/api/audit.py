"""GET /api/v1/audit-logs: the audit log, admin only, newest first."""

from __future__ import annotations

from fastapi import APIRouter, Query

from app.api.deps import CurrentPrincipal, SessionDep
from app.auth.permissions import require_admin
from app.schemas.audit import AuditLogEntry, AuditLogPage
from app.schemas.paging import Limit, Offset, UtcDateTime
from app.services import audit as service

router = APIRouter(tags=["audit"])


@router.get("/api/v1/audit-logs", operation_id="listAuditLogs")
def list_audit_logs(
    session: SessionDep,
    principal: CurrentPrincipal,
    eventType: str | None = Query(default=None),
    actor: str | None = Query(default=None, description="`admin`, `identity:<id>` or `anonymous`"),
    projectId: str | None = Query(default=None),
    startDate: UtcDateTime | None = Query(default=None, description="ISO 8601, inclusive"),
    endDate: UtcDateTime | None = Query(default=None, description="ISO 8601, exclusive"),
    offset: Offset = 0,
    limit: Limit = 50,
) -> AuditLogPage:
    require_admin(principal, "read", "audit-logs")
    entries, total = service.list_entries(
        session,
        event=eventType or None,
        actor=actor or None,
        project_id=projectId or None,
        start=startDate,
        end=endDate,
        offset=offset,
        limit=limit,
    )
    return AuditLogPage(
        auditLogs=[AuditLogEntry.model_validate(service.entry_public(e)) for e in entries], totalCount=total
    )
