"""The forms on an identity's page: client secrets (create, shown exactly once; revoke) and project
memberships with roles and scope (grant, change, remove), through the API's models and services.

A new client secret is rendered in the response to its POST and nowhere else: it is not put in a redirect,
a flash cookie or a log line, the page forbids caching, and the service keeps only its hash.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from app.api.deps import SessionDep
from app.auth.permissions import require_admin
from app.auth.roles import ROLES
from app.console.identities import identity_page
from app.console.web import PREFIX, Caller, CheckedForm, errors_of, message_of, number, redirect, rolled_back
from app.errors import AppError
from app.schemas.identities import ClientSecretCreate, MembershipCreate, MembershipUpdate
from app.services import memberships, universal_auth

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _url(identity_id: str) -> str:
    return f"{PREFIX}/identities/{identity_id}"


@router.post("/identities/{identity_id}/client-secrets", response_model=None)
def create_client_secret(
    identity_id: str, request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse:
    fields = {
        "description": form.get("description", ""),
        "ttl": number(form.get("ttl")),
        "numUsesLimit": number(form.get("num_uses_limit")),
    }
    try:
        require_admin(caller.principal, "create", "identity")
        body = ClientSecretCreate.model_validate(fields)
        value, secret = universal_auth.create_client_secret(
            session, actor=caller.principal, identity_id=identity_id, body=body
        )
    except (ValidationError, AppError) as exc:
        rolled_back(session)
        status = exc.status_code if isinstance(exc, AppError) else 422
        errors = {"form": "secret", "fields": errors_of(exc)}
        return identity_page(request, session, caller, identity_id, errors=errors, status=status, secret_form=form)
    session.flush()
    return identity_page(request, session, caller, identity_id, new_secret=value, new_secret_id=secret.id)


@router.post("/identities/{identity_id}/client-secrets/{secret_id}/revoke")
def revoke_client_secret(
    identity_id: str, secret_id: str, caller: Caller, _form: CheckedForm, session: SessionDep
) -> RedirectResponse:
    try:
        require_admin(caller.principal, "edit", "identity")
        secret = universal_auth.revoke_client_secret(
            session, actor=caller.principal, identity_id=identity_id, client_secret_id=secret_id
        )
    except AppError as exc:
        rolled_back(session)
        return redirect(_url(identity_id), flash=message_of(exc), kind="error")
    return redirect(
        _url(identity_id),
        flash=f"Client secret {secret.prefix}… revoked: it signs in no more (tokens it issued run until they expire).",
    )


def membership_body(form: dict[str, str]) -> dict[str, Any]:
    """M1's and M5's body: the ticked roles, and the scope's comma-separated environments and path globs
    (both empty: no scope, the whole project)."""

    def listed(field: str) -> list[str] | None:
        items = [item.strip() for item in form.get(field, "").split(",") if item.strip()]
        return items or None

    scope = {"environments": listed("environments"), "secretPaths": listed("secret_paths")}
    return {
        "roles": [{"role": role, "isTemporary": False} for role in ROLES if form.get(f"role_{role}") == "true"],
        "scope": scope if any(scope.values()) else None,
    }


def _membership_refused(request, session, caller, identity_id: str, which: str, form: dict, exc) -> HTMLResponse:
    rolled_back(session)
    status = exc.status_code if isinstance(exc, AppError) else 422
    errors = {"form": which, "fields": errors_of(exc)}
    body = membership_body(form)
    shown = {"project_id": form.get("project_id"), "roles": [r["role"] for r in body["roles"]], "scope": body["scope"]}
    return identity_page(request, session, caller, identity_id, errors=errors, status=status, membership_form=shown)


@router.post("/identities/{identity_id}/memberships", response_model=None)
def grant(
    identity_id: str, request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    project_id = form.get("project_id", "")
    try:
        require_admin(caller.principal, "create", "identity")
        body = MembershipCreate.model_validate(membership_body(form))
        memberships.grant(session, actor=caller.principal, project_id=project_id, identity_id=identity_id, body=body)
    except (ValidationError, AppError) as exc:
        return _membership_refused(request, session, caller, identity_id, "grant", form, exc)
    return redirect(_url(identity_id), flash=f"Granted {', '.join(body.role_slugs())} in the project.")


@router.post("/identities/{identity_id}/memberships/{project_id}", response_model=None)
def change(
    identity_id: str, project_id: str, request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    try:
        require_admin(caller.principal, "edit", "identity")
        body = MembershipUpdate.model_validate(membership_body(form))
        memberships.update(session, actor=caller.principal, project_id=project_id, identity_id=identity_id, body=body)
    except (ValidationError, AppError) as exc:
        return _membership_refused(request, session, caller, identity_id, project_id, form, exc)
    return redirect(_url(identity_id), flash="Membership changed.")


@router.post("/identities/{identity_id}/memberships/{project_id}/remove")
def remove(
    identity_id: str, project_id: str, caller: Caller, _form: CheckedForm, session: SessionDep
) -> RedirectResponse:
    try:
        require_admin(caller.principal, "delete", "identity")
        memberships.remove(session, actor=caller.principal, project_id=project_id, identity_id=identity_id)
    except AppError as exc:
        rolled_back(session)
        return redirect(_url(identity_id), flash=message_of(exc), kind="error")
    return redirect(_url(identity_id), flash="Membership removed: the identity has no access to that project now.")
