"""Edit an app connection: its name, description and, optionally, a new management key, through C8's own
model and service (the provider checks the new key and the live keys are handed over to it before anything
changes). The key field is write-only: never filled in, not even after a refusal.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app import catalogue
from app.api.connections import require_on
from app.api.deps import SessionDep
from app.catalogue import ConnectionApp
from app.console.web import (
    PREFIX,
    Caller,
    CheckedForm,
    ConsoleCaller,
    errors_of,
    message_of,
    redirect,
    render,
    rolled_back,
)
from app.errors import AppError, NotFound
from app.models import AppConnection
from app.schemas.connections import update_schema
from app.services import connections as service

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WRITE_ONLY = ("api_key", "csrf")


def _editable(session: Session, caller: ConsoleCaller, connection_id: str) -> tuple[ConnectionApp, AppConnection]:
    connection = service.get_connection(session, connection_id)
    app = catalogue.app(connection.app)
    if app is None:  # a provider this build no longer knows: the API has no route for it either
        raise NotFound(f"Could not find App Connection with ID {connection_id}")
    require_on(caller.principal, "edit", connection)
    return app, connection


def _page(
    request: Request,
    caller: ConsoleCaller,
    app: ConnectionApp,
    connection: AppConnection,
    form: dict,
    errors: dict,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "connection_edit.html",
        title=f"Edit connection {connection.name}",
        caller=caller,
        app=app,
        connection=connection,
        form={key: value for key, value in form.items() if key not in WRITE_ONLY},
        errors=errors,
        status_code=status,
    )


def update_body(form: dict[str, str], connection: AppConnection) -> dict[str, Any]:
    """C8's body with what changed; a blank key field keeps the stored key."""
    body: dict[str, Any] = {}
    if form.get("name", "") != connection.name:
        body["name"] = form.get("name", "")
    description = form.get("description", "").strip() or None
    if description != connection.description:
        body["description"] = description
    if form.get("api_key", "").strip():
        body["credentials"] = {"apiKey": form["api_key"]}
    return body


@router.get("/connections/{connection_id}/edit")
def edit_page(connection_id: str, request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    try:
        app, connection = _editable(session, caller, connection_id)
    except AppError as exc:
        return render(
            request,
            "error.html",
            title="Edit connection",
            caller=caller,
            message=message_of(exc),
            status_code=exc.status_code,
        )
    form = {"name": connection.name, "description": connection.description or ""}
    return _page(request, caller, app, connection, form, {})


@router.post("/connections/{connection_id}/edit", response_model=None)
def save(
    connection_id: str, request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    try:
        app, connection = _editable(session, caller, connection_id)
    except AppError as exc:
        return redirect(f"{PREFIX}/connections", flash=message_of(exc), kind="error")
    changes = update_body(form, connection)
    if not changes:
        return redirect(f"{PREFIX}/connections", flash="Nothing changed.")
    try:
        body = update_schema(app.name).model_validate(changes)
        service.update_connection(session, app, connection, body=body, actor=caller.principal)
    except ValidationError as exc:
        return _page(request, caller, app, connection, form, errors_of(exc), 422)
    except AppError as exc:  # name taken, the provider refusing the new key
        rolled_back(session)
        return _page(request, caller, app, connection, form, errors_of(exc), exc.status_code)
    saved = ", ".join(sorted("management key" if key == "credentials" else key for key in changes))
    return redirect(f"{PREFIX}/connections", flash=f"Connection {connection.name} saved: {saved}.")
