"""App connections: the list (each with its edit page, app.console.edit_connection, where the caller may edit
it), and a create form whose management key field is write-only (never rendered back, not even masked, not
even after a refusal)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app import catalogue
from app.api.connections import SUBJECT, may, readable_connections
from app.api.deps import SessionDep
from app.api.visibility import projects_allowing
from app.auth.permissions import require
from app.console.web import PREFIX, Caller, CheckedForm, ConsoleCaller, errors_of, redirect, render, rolled_back
from app.errors import AppError
from app.schemas.connections import create_schema
from app.services import connections as service
from app.services import projects

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WRITE_ONLY = ("api_key", "csrf")


def _page(request: Request, session: Session, caller: ConsoleCaller, form: dict, errors: dict, status: int = 200):
    principal = caller.principal
    only = projects_allowing(principal, "read", "project")
    listed = readable_connections(session, principal, app=None, project_id=None)
    return render(
        request,
        "connections.html",
        title="Connections",
        caller=caller,
        connections=listed,
        editable={c.id for c in listed if may(principal, "edit", c)},
        projects=[p for p, _envs in projects.list_projects(session, type_filter=None, only=only)],
        apps=catalogue.apps(),
        form={k: v for k, v in form.items() if k not in WRITE_ONLY},
        errors=errors,
        status_code=status,
    )


@router.get("/connections")
def connections(request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    return _page(request, session, caller, {}, {})


@router.post("/connections", response_model=None)
def create_connection(
    request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    app = catalogue.app(form.get("app", ""))
    if app is None:
        return _page(request, session, caller, form, {"app": "Choose a provider"}, 422)
    body_fields = {
        "name": form.get("name", ""),
        "method": app.methods[0],
        "credentials": {"apiKey": form.get("api_key", "")},
        "projectId": form.get("project_id") or None,
    }
    if form.get("description", "").strip():
        body_fields["description"] = form["description"]
    try:
        body = create_schema(app.name, app.methods).model_validate(body_fields)
        project_id = projects.get_project(session, body.projectId).id if body.projectId else None
        require(caller.principal, "create", SUBJECT, project_id=project_id)
        connection = service.create_connection(session, app, body=body, actor=caller.principal)
    except ValidationError as exc:
        return _page(request, session, caller, form, errors_of(exc), 422)
    except AppError as exc:  # name taken, permission, the provider refusing the key (401)
        rolled_back(session)
        return _page(request, session, caller, form, errors_of(exc), exc.status_code)
    return redirect(
        f"{PREFIX}/connections", flash=f"Connection {connection.name} created; the provider accepted its key."
    )
