"""The console (issue 15): server-rendered pages at /console for people, over the same services as the API.

It sits above app.api in the layers (it reuses the API's request dependencies, connection visibility and
validation wording); the API never imports it. None of its routes is in the OpenAPI document.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from app.console import (
    audit_log,
    connections,
    create,
    edit_connection,
    edit_rotation,
    identities,
    identity_access,
    rotations,
    signin,
    webhooks,
)
from app.console.templating import TEMPLATES
from app.console.web import PREFIX, CsrfRefused, SignInRequired, redirect, render

# create before rotations: /console/rotations/new must not be read as a rotation id.
ROUTERS = [
    signin.router,
    create.router,
    rotations.router,
    edit_rotation.router,
    connections.router,
    edit_connection.router,
    identities.router,
    identity_access.router,
    webhooks.router,
    audit_log.router,
]
STATIC = TEMPLATES.parent / "static"


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, _exc: SignInRequired) -> RedirectResponse:
        return redirect(f"{PREFIX}/sign-in")

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> HTMLResponse:
        return render(
            request,
            "error.html",
            title="Refused",
            message="This form's security token is missing or out of date; nothing was changed. "
            "Go back, reload the page and try again.",
            status_code=403,
        )
