"""Which projects a list may show its caller, so that the list's query filters by them before it is cut at its
cap: an identity sees every project it may read, however many others exist."""

from __future__ import annotations

from app.auth.caller import Caller
from app.auth.permissions import can
from app.auth.principal import Principal


def projects_allowing(principal: Principal, action: str, subject: str) -> list[str] | None:
    """The ids of the projects where the caller may do `action` on `subject`; None means every project."""
    if principal.is_admin:
        return None
    if not isinstance(principal, Caller):  # as Principal.grant_for: only the request's Caller knows its grants
        raise RuntimeError("a list needs the request's Caller (app.auth.caller.for_request)")
    return [project_id for project_id in principal.grants if can(principal, action, subject, project_id=project_id)]
