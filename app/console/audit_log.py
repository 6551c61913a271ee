"""The audit log (admin only, as GET /api/v1/audit-logs): filters by actor, event, project and date range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.deps import SessionDep
from app.auth.permissions import require_admin
from app.console.web import PREFIX, Caller, message_of, render
from app.errors import PermissionDenied
from app.services import audit

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PER_PAGE = 50


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD date as UTC midnight; the end of a range includes its whole day."""
    try:
        day = datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


@router.get("/audit")
def audit_log(request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    try:
        require_admin(caller.principal, "read", "audit-logs")
    except PermissionDenied as exc:
        return render(request, "error.html", title="Audit log", caller=caller, message=message_of(exc), status_code=403)
    query = request.query_params
    filters = {key: (query.get(key) or "").strip() for key in ("actor", "event", "project", "from", "to")}
    page = int(query["page"]) if query.get("page", "").isdigit() and int(query["page"]) > 0 else 1
    entries, total = audit.list_entries(
        session,
        actor=filters["actor"] or None,
        event=filters["event"] or None,
        project_id=filters["project"] or None,
        start=_day(filters["from"]),
        end=_day(filters["to"], end=True),
        offset=(page - 1) * PER_PAGE,
        limit=PER_PAGE,
    )
    pages = max(1, -(-total // PER_PAGE))
    return render(
        request,
        "audit.html",
        title="Audit log",
        caller=caller,
        entries=entries,
        total=total,
        page=page,
        pages=pages,
        filters=filters,
    )
