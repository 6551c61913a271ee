"""The audit log's response objects (GET /api/v1/audit-logs)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.schemas.fields import ResponseBody


class AuditLogEntry(ResponseBody):
    id: str
    eventType: str
    actor: str = Field(description="`admin`, `identity:<id>` or `anonymous`")
    projectId: str | None
    resourceType: str | None
    resourceId: str | None
    ipAddress: str | None
    metadata: dict[str, Any] = Field(description="what the event changed; never a secret value")
    createdAt: str


class AuditLogPage(ResponseBody):
    auditLogs: list[AuditLogEntry]
    totalCount: int = Field(description="every matching entry, before `offset` and `limit`")
