"""The create-rotation form: its fields become R6's body, validated by the API's own model and created by the
API's own service, so the rules and the error words are the API's. Nothing exists until the provider has
minted and verified generation 1 (the service's promise); a refusal comes back beside its field.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app import catalogue
from app.api.connections import readable_connections
from app.api.deps import SessionDep
from app.api.visibility import projects_allowing
from app.config import REVOCATION_MODES
from app.console.rotation_form import create_body
from app.console.web import PREFIX, Caller, CheckedForm, ConsoleCaller, errors_of, redirect, render, rolled_back
from app.errors import AppError
from app.schemas.rotations import RotationCreate
from app.services import projects
from app.services import rotations as service

router = APIRouter(prefix=PREFIX, include_in_schema=False)

DEFAULTS = {"environment": "dev", "secret_path": "/", "interval": "30", "hours": "0", "minutes": "0", "auto": "true"}


def _choices(session: Session, caller: ConsoleCaller) -> dict[str, Any]:
    principal = caller.principal
    only = projects_allowing(principal, "read", "project")
    return {
        "projects": [(p, envs) for p, envs in projects.list_projects(session, type_filter=None, only=only)],
        "connections": readable_connections(session, principal, app=None, project_id=None),
        "types": sorted(catalogue.rotation_types(), key=lambda t: t.name),
        "modes": REVOCATION_MODES,
    }


def _page(request: Request, session: Session, caller: ConsoleCaller, form: dict, errors: dict, status: int = 200):
    return render(
        request,
        "create.html",
        title="New rotation",
        caller=caller,
        form=form,
        errors=errors,
        status_code=status,
        **_choices(session, caller),
    )


@router.get("/rotations/new")
def new_rotation(request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    return _page(request, session, caller, dict(DEFAULTS), {})


@router.post("/rotations/new", response_model=None)
def create_rotation(
    request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    shown = {k: v for k, v in form.items() if k != "csrf"}
    rtype = catalogue.rotation_type(form.get("type", ""))
    if rtype is None:
        return _page(request, session, caller, shown, {"type": "Choose a rotation type"}, 422)
    try:
        body = RotationCreate[rtype.parameters_model].model_validate(create_body(form))  # type: ignore[name-defined]
        created = service.create_rotation(session, caller.principal, rtype, body)
    except ValidationError as exc:
        return _page(request, session, caller, shown, errors_of(exc), 422)
    except AppError as exc:  # invalid, not found, forbidden, name taken, the provider's refusal (502)
        rolled_back(session)
        return _page(request, session, caller, shown, errors_of(exc), exc.status_code)
    return redirect(f"{PREFIX}/rotations/{created.id}", flash=f"Created {created.name}: generation 1 is live.")
