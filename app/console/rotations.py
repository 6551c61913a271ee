"""The rotations overview (the console's home) and one rotation's page with its actions.

Every read and action calls the service the API's route calls, with the session's principal, so the console
refuses what the API would refuse. Buttons are shown only for what the caller may do; a forged POST still
meets the service's own check.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from app import catalogue
from app.api.deps import SessionDep
from app.auth.permissions import can
from app.auth.principal import Principal
from app.catalogue import RotationType
from app.console.web import PREFIX, Caller, CheckedForm, message_of, redirect, render, rolled_back
from app.errors import AppError, NotFound
from app.models import Project, SecretRotation
from app.schemas.rotations import RotationPublic, RotationUpdate
from app.services import audit, consumers_view, rotation_overview
from app.services import rotations as service

router = APIRouter(prefix=PREFIX, include_in_schema=False)

PER_PAGE = 50
ACTIONS = ("rotate-secrets", "revoke-superseded", "edit", "delete", "read-generated-credentials")


class ConfirmationMismatch(AppError):
    status_code = 400
    error = "BadRequest"


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


@router.get("")
def overview(request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    query = request.query_params
    filters = {key: query.get(key) or None for key in ("project", "status", "provider")}
    page = rotation_overview.overview(
        session,
        caller.principal,
        project_id=filters["project"],
        status=filters["status"] if filters["status"] in rotation_overview.STATUSES else None,
        provider=filters["provider"],
        page=_int(query.get("page"), 1),
        per_page=PER_PAGE,
    )
    return render(
        request,
        "overview.html",
        title="Rotations",
        caller=caller,
        page=page,
        filters=filters,
        statuses=rotation_overview.STATUSES,
        providers=rotation_overview.providers(),
    )


def rotation_type(session: Session, rotation_id: str) -> RotationType:
    """The type the API's URL would name; the service then applies its own 404, 400 and 403."""
    row = session.get(SecretRotation, rotation_id)
    rtype = catalogue.rotation_type(row.type) if row is not None else None
    if rtype is None:
        raise NotFound(f'Could not find Secret Rotation with ID "{rotation_id}"')
    return rtype


def allowed_actions(principal: Principal, rotation: RotationPublic) -> set[str]:
    conditions = {
        "project_id": rotation.project_id,
        "environment": rotation.environment.slug,
        "secretPath": rotation.folder.path,
        "connectionId": rotation.connection_id,
    }
    return {action for action in ACTIONS if can(principal, action, service.SUBJECT, **conditions)}


@router.get("/rotations/{rotation_id}")
def detail(rotation_id: str, request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    principal = caller.principal
    try:
        rtype = rotation_type(session, rotation_id)
        rotation = service.read_rotation(session, principal, rtype, rotation_id)
        history = service.credential_history(session, principal, rtype, rotation_id)
        consumers = consumers_view.consumers_view(session, principal, rtype, rotation_id)
    except AppError as exc:
        return render(
            request, "error.html", title="Rotation", caller=caller, message=message_of(exc), status_code=exc.status_code
        )
    # The audit log is the admin's (GET /api/v1/audit-logs); others see no entries rather than a refusal.
    entries = audit.list_entries(session, resource_id=rotation_id, limit=20)[0] if principal.is_admin else None
    return render(
        request,
        "detail.html",
        title=f"Rotation {rotation.name}",
        caller=caller,
        rotation=rotation,
        provider=rtype.app_name,
        history=history,
        consumers=consumers,
        entries=entries,
        actions=allowed_actions(principal, rotation),
        project=session.get(Project, rotation.project_id),
    )


def _act(session: Session, rotation_id: str, done: str, action) -> RedirectResponse:
    """Run one action; back to the rotation's page with its outcome as the flash message."""
    url = f"{PREFIX}/rotations/{rotation_id}"
    try:
        rtype = rotation_type(session, rotation_id)
        outcome = action(rtype)
    except AppError as exc:
        rolled_back(session)
        return redirect(url, flash=message_of(exc), kind="error")
    return redirect(outcome if isinstance(outcome, str) and outcome.startswith("/") else url, flash=done)


@router.post("/rotations/{rotation_id}/rotate")
def rotate_now(rotation_id: str, caller: Caller, _form: CheckedForm, session: SessionDep) -> RedirectResponse:
    return _act(
        session,
        rotation_id,
        "Rotated: a new key is published.",
        lambda rtype: service.rotate_now(session, caller.principal, rtype, rotation_id),
    )


@router.post("/rotations/{rotation_id}/emergency")
def emergency_rotate(rotation_id: str, caller: Caller, form: CheckedForm, session: SessionDep) -> RedirectResponse:
    def run(rtype: RotationType) -> None:
        rotation = service.get_rotation(session, rtype, rotation_id)
        if form.get("confirm_name", "").strip() != rotation.name:
            raise ConfirmationMismatch(f'Type the rotation\'s name, "{rotation.name}", to confirm.')
        service.rotate_now(session, caller.principal, rtype, rotation_id, revoke_superseded=True)

    return _act(session, rotation_id, "Emergency rotation done: every earlier key is revoked.", run)


def _set_auto(session: Session, principal: Principal, rotation_id: str, enabled: bool, done: str) -> RedirectResponse:
    def run(rtype: RotationType) -> None:
        body = RotationUpdate[rtype.parameters_model].model_validate({"isAutoRotationEnabled": enabled})  # type: ignore[name-defined]
        service.update_rotation(session, principal, rtype, rotation_id, body)

    return _act(session, rotation_id, done, run)


@router.post("/rotations/{rotation_id}/pause")
def pause(rotation_id: str, caller: Caller, _form: CheckedForm, session: SessionDep) -> RedirectResponse:
    return _set_auto(session, caller.principal, rotation_id, False, "Auto-rotation paused.")


@router.post("/rotations/{rotation_id}/resume")
def resume(rotation_id: str, caller: Caller, _form: CheckedForm, session: SessionDep) -> RedirectResponse:
    return _set_auto(session, caller.principal, rotation_id, True, "Auto-rotation resumed.")


@router.post("/rotations/{rotation_id}/check")
def check_credentials(rotation_id: str, caller: Caller, _form: CheckedForm, session: SessionDep) -> RedirectResponse:
    return _act(
        session,
        rotation_id,
        "The active key works at the provider.",
        lambda rtype: service.check_credentials(session, caller.principal, rtype, rotation_id),
    )


@router.post("/rotations/{rotation_id}/delete")
def delete(rotation_id: str, caller: Caller, form: CheckedForm, session: SessionDep) -> RedirectResponse:
    def run(rtype: RotationType) -> str:
        service.delete_rotation(
            session,
            caller.principal,
            rtype,
            rotation_id,
            delete_secrets=form.get("delete_secrets") == "true",
            revoke=form.get("revoke") == "true",
        )
        return PREFIX  # the rotation's page is gone

    return _act(session, rotation_id, "Rotation deleted.", run)
