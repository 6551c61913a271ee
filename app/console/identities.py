"""Identities and access (admin only, as the API's identity routes): the identities, one identity's page
(its universal-auth client id, client secrets and project memberships), and creating an identity with
universal auth. The forms on an identity's page post to app.console.identity_access.

Every page and form asks `require_admin` with the API's action for it, then calls the API's service, so the
refusals, rules and audit rows are the API's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app.api.deps import SessionDep
from app.auth.permissions import require_admin
from app.auth.roles import ROLES
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
from app.errors import AppError
from app.schemas.identities import IdentityCreate, UniversalAuthCreate
from app.services import identities, memberships, projects, universal_auth

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PER_PAGE = 50
ORG_ROLES = ("no-access", "member", "admin")


def refused(request: Request, caller: ConsoleCaller, title: str, exc: AppError) -> HTMLResponse:
    return render(
        request, "error.html", title=title, caller=caller, message=message_of(exc), status_code=exc.status_code
    )


def _list_page(request: Request, session: Session, caller: ConsoleCaller, form: dict, errors: dict, status=200):
    query = request.query_params
    page = int(query["page"]) if query.get("page", "").isdigit() and int(query["page"]) > 0 else 1
    rows, total = identities.list_identities(session, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return render(
        request,
        "identities.html",
        title="Identities",
        caller=caller,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        org_roles=ORG_ROLES,
        form=form,
        errors=errors,
        status_code=status,
    )


@router.get("/identities")
def identities_page(request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    try:
        require_admin(caller.principal, "read", "identity")
    except AppError as exc:
        return refused(request, caller, "Identities", exc)
    return _list_page(request, session, caller, {"role": "no-access"}, {})


@router.post("/identities", response_model=None)
def create_identity(
    request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    """An identity with universal auth on the server's defaults, ready for a client secret."""
    shown = {key: value for key, value in form.items() if key != "csrf"}
    try:
        require_admin(caller.principal, "create", "identity")
        body = IdentityCreate.model_validate({"name": form.get("name", ""), "role": form.get("role", "")})
        identity = identities.create_identity(session, actor=caller.principal, body=body)
        session.flush()
        universal_auth.attach(session, actor=caller.principal, identity_id=identity.id, body=UniversalAuthCreate())
    except ValidationError as exc:
        return _list_page(request, session, caller, shown, errors_of(exc), 422)
    except AppError as exc:
        rolled_back(session)
        return _list_page(request, session, caller, shown, errors_of(exc), exc.status_code)
    return redirect(
        f"{PREFIX}/identities/{identity.id}",
        flash=f"Identity {identity.name} created with universal auth; create a client secret for it below.",
    )


def identity_page(
    request: Request,
    session: Session,
    caller: ConsoleCaller,
    identity_id: str,
    *,
    errors: dict[str, Any] | None = None,
    status: int = 200,
    **shown: Any,
) -> HTMLResponse:
    """One identity's page; `errors` is {"form": which form was refused, "fields": its messages}, and `shown`
    may carry the client secret just created (its one showing)."""
    try:
        require_admin(caller.principal, "read", "identity")
        identity = identities.get_identity(session, identity_id)
    except AppError as exc:
        return refused(request, caller, "Identity", exc)
    ua = identities.universal_auth_of(session, identity_id)
    return render(
        request,
        "identity.html",
        title=f"Identity {identity.name}",
        caller=caller,
        identity=identity,
        ua=ua,
        locked=identities.is_locked(ua),
        secrets=universal_auth.list_client_secrets(session, identity_id) if ua else [],
        memberships=memberships.memberships_of(session, identity_id),
        projects=[p for p, _envs in projects.list_projects(session, type_filter=None, only=None)],
        roles=ROLES,
        errors=errors or {"form": None, "fields": {}},
        status_code=status,
        **shown,
    )


@router.get("/identities/{identity_id}")
def identity(identity_id: str, request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    return identity_page(request, session, caller, identity_id)


@router.post("/identities/{identity_id}/universal-auth", response_model=None)
def attach_universal_auth(
    identity_id: str, caller: Caller, _form: CheckedForm, session: SessionDep
) -> RedirectResponse:
    url = f"{PREFIX}/identities/{identity_id}"
    try:
        require_admin(caller.principal, "create", "identity")
        universal_auth.attach(session, actor=caller.principal, identity_id=identity_id, body=UniversalAuthCreate())
    except AppError as exc:
        rolled_back(session)
        return redirect(url, flash=message_of(exc), kind="error")
    return redirect(url, flash="Universal auth added: create a client secret to sign in with it.")
