"""Edit a rotation: R7's fields (name, description, schedule, auto-rotation, parameters, secret name, revocation
policy) through the API's own model and service, so the rules, the lease and the audit entry are R7's and a
refusal comes back beside its field in the API's words. Where the key is published (project, environment, path,
connection) cannot change, as in R7.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app.api.deps import SessionDep
from app.config import REVOCATION_MODES
from app.console.rotation_form import edit_form, update_body
from app.console.rotations import rotation_type
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
from app.schemas.rotations import RotationPublic, RotationUpdate
from app.services import rotations as service

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _page(
    request: Request,
    caller: ConsoleCaller,
    rotation: RotationPublic,
    key_expiry: bool,
    form: dict,
    errors: dict,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "edit.html",
        title=f"Edit {rotation.name}",
        caller=caller,
        rotation=rotation,
        key_expiry=key_expiry,
        modes=REVOCATION_MODES,
        form=form,
        errors=errors,
        status_code=status,
    )


def _editable(session: Session, caller: ConsoleCaller, rotation_id: str):
    """The rotation's type and stored state, once the caller may edit it (R7's 404, 400 and 403 first)."""
    rtype = rotation_type(session, rotation_id)
    service.get_authorized(session, caller.principal, rtype, rotation_id, "edit")
    return rtype, service.read_rotation(session, caller.principal, rtype, rotation_id)


@router.get("/rotations/{rotation_id}/edit")
def edit_page(rotation_id: str, request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    try:
        rtype, rotation = _editable(session, caller, rotation_id)
    except AppError as exc:
        return render(
            request,
            "error.html",
            title="Edit rotation",
            caller=caller,
            message=message_of(exc),
            status_code=exc.status_code,
        )
    return _page(request, caller, rotation, rtype.key_expiry, edit_form(rotation), {})


@router.post("/rotations/{rotation_id}/edit", response_model=None)
def save(
    rotation_id: str, request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    try:
        rtype, rotation = _editable(session, caller, rotation_id)
    except AppError as exc:
        return redirect(f"{PREFIX}/rotations/{rotation_id}", flash=message_of(exc), kind="error")
    shown = {key: value for key, value in form.items() if key != "csrf"}
    changes = update_body(form, edit_form(rotation), key_expiry=rtype.key_expiry)
    if not changes:
        return redirect(f"{PREFIX}/rotations/{rotation_id}", flash="Nothing changed.")
    try:
        body = RotationUpdate[rtype.parameters_model].model_validate(changes)  # type: ignore[name-defined]
        updated = service.update_rotation(session, caller.principal, rtype, rotation_id, body)
    except ValidationError as exc:
        return _page(request, caller, rotation, rtype.key_expiry, shown, errors_of(exc), 422)
    except AppError as exc:  # invalid (the lifetime rule), name or secret taken, forbidden, leased
        rolled_back(session)
        return _page(request, caller, rotation, rtype.key_expiry, shown, errors_of(exc), exc.status_code)
    return redirect(f"{PREFIX}/rotations/{rotation_id}", flash=f"Saved {updated.name}: {', '.join(sorted(changes))}.")
