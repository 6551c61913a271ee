"""What every console page shares: the signed-in caller, CSRF, form bodies, flash messages and rendering.

Pages are plain HTML forms (no script). Every response forbids caching and framing and allows only this
origin's stylesheet, so no page makes a third-party request.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app.api.deps import client_ip
from app.api.errors import validation_issues
from app.auth import console_sessions
from app.auth.principal import Principal
from app.console import nav
from app.console.templating import templates
from app.errors import AppError, ValidationFailure

PREFIX = "/console"
COOKIE = "keyturn_console"
FLASH_COOKIE = "keyturn_console_flash"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MAX_FLASH = 600


class SignInRequired(Exception):
    """No live session: app.console answers with a redirect to the sign-in page."""


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token: 403, nothing done."""


@dataclass(frozen=True)
class ConsoleCaller:
    principal: Principal
    cookie: str

    @property
    def csrf(self) -> str:
        return console_sessions.csrf_token(self.cookie)


def console_caller(request: Request) -> ConsoleCaller:
    cookie = request.cookies.get(COOKIE)
    principal = console_sessions.resume(cookie, client_ip(request)) if cookie else None
    if principal is None or cookie is None:
        raise SignInRequired
    return ConsoleCaller(principal, cookie)


Caller = Annotated[ConsoleCaller, Depends(console_caller)]


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body (the only kind the console sends); the last value of a repeated field wins."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


Form = Annotated[dict[str, str], Depends(form_fields)]


def checked_form(caller: Caller, form: Form) -> dict[str, str]:
    """The form of a state-changing request, once its CSRF token is the session's."""
    if not console_sessions.csrf_matches(caller.cookie, form.get("csrf")):
        raise CsrfRefused
    return form


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


# --- responses ---------------------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    *,
    title: str,
    caller: ConsoleCaller | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    flash = _read_flash(request)
    body = templates.get_template(template).render(
        title=title,
        caller=caller,
        nav=nav.entries(caller.principal) if caller else [],
        path=request.url.path,
        flash=flash,
        **context,
    )
    response = HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    return response


def redirect(url: str, *, flash: str | None = None, kind: str = "ok") -> RedirectResponse:
    """303 to a console page, with a message for it to show once (kept in a short-lived cookie)."""
    response = RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
    if flash is not None:
        value = json.dumps({"m": flash[:MAX_FLASH], "k": kind}).encode()
        response.set_cookie(
            FLASH_COOKIE,
            base64.urlsafe_b64encode(value).decode(),
            max_age=120,
            path=PREFIX,
            httponly=True,
            samesite="strict",
        )
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return {"message": str(value["m"])[:MAX_FLASH], "kind": "error" if value.get("k") == "error" else "ok"}
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def set_session_cookie(request: Request, response: HTMLResponse | RedirectResponse, value: str) -> None:
    """HttpOnly, SameSite=Strict, and Secure when the request came over TLS (directly or through a trusted
    proxy, per KEYTURN_FORWARDED_ALLOW_IPS). No Max-Age: the server ends it after 12 h idle."""
    response.set_cookie(
        COOKIE,
        value,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def message_of(exc: Exception) -> str:
    """An AppError's message as a sentence; a validation failure's issues joined."""
    message = getattr(exc, "message", str(exc))
    if isinstance(message, list):
        return "; ".join(str(issue.get("message", issue)) for issue in message if isinstance(issue, dict))
    return str(message)


def number(value: str | None) -> Any:
    """A number field as the API would receive it: an int when it is one, else the text as typed (so the model
    refuses it in its own words), 0 when empty."""
    value = (value or "").strip()
    return int(value) if value.removeprefix("-").isdigit() else value or 0


def field_errors(issues: list[dict]) -> dict[str, str]:
    """Issues by dotted path ("parameters.name"), the first per field; a path-less issue goes under ""."""
    errors: dict[str, str] = {}
    for issue in issues:
        key = ".".join(str(part) for part in issue.get("path", []))
        errors.setdefault(key, str(issue.get("message", "")))
    return errors


def errors_of(exc: ValidationError | AppError) -> dict[str, str]:
    """A refused form's messages in the API's words: the model's and the service's issues beside their
    fields, any other refusal (not found, forbidden, name taken, the provider's answer) above the form."""
    if isinstance(exc, ValidationError):
        return field_errors(validation_issues(exc.errors()))
    if isinstance(exc, ValidationFailure) and isinstance(exc.message, list):
        return field_errors(exc.message)
    return {"": message_of(exc)}


def rolled_back(session: Session) -> None:
    """A refused action's request ends without committing anything it began."""
    session.rollback()
