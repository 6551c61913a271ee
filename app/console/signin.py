"""Sign-in and sign-out. The admin token, or an identity's universal-auth client id and secret through the same
login as A1 (its rate limits, lockout, audit rows and access token); either starts a console session.

The sign-in form has no session yet, so its CSRF token is a double submit: a random cookie the form repeats.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api.deps import client_ip
from app.auth import console_sessions, login, login_rate
from app.auth.admin import is_admin_token
from app.console.web import COOKIE, PREFIX, Caller, CheckedForm, Form, redirect, render, set_session_cookie
from app.errors import AppError, TooManyRequests

router = APIRouter(prefix=PREFIX, include_in_schema=False)

SIGNIN_COOKIE = "keyturn_console_signin"
INVALID = "Invalid credentials"
# The admin token has no client id; its attempts share the per-IP bucket and one bucket of their own.
ADMIN_RATE_KEY = "console:admin-token"


def _form(request: Request, *, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "signin.html", title="Sign in", csrf=token, error=error, status_code=status_code)
    response.set_cookie(
        SIGNIN_COOKIE, token, path=PREFIX, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.get("/sign-in")
def sign_in_page(request: Request) -> HTMLResponse:
    return _form(request)


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request, form: Form) -> HTMLResponse | RedirectResponse:
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not expected or not hmac.compare_digest(expected, form.get("csrf", "")):
        return _form(request, error="The form expired; please sign in again.", status_code=403)
    ip = client_ip(request)
    admin_token = form.get("admin_token", "").strip()
    client_id = form.get("client_id", "").strip()
    client_secret = form.get("client_secret", "")
    try:
        if admin_token:
            login_rate.check(client_id=ADMIN_RATE_KEY, client_ip=ip)
            if not is_admin_token(admin_token):
                return _form(request, error=INVALID, status_code=401)
            value = console_sessions.start(access_token_id=None)
        elif client_id and client_secret:
            token, _ua = await login.login(client_id=client_id, client_secret=client_secret, client_ip=ip)
            value = console_sessions.start_for_token(token)
        else:
            return _form(request, error="Enter the admin token, or a client ID and client secret.", status_code=400)
    except TooManyRequests as exc:
        return _form(request, error=exc.message, status_code=429)
    except AppError as exc:  # the login's own refusals: invalid, locked, IP not trusted, secret expired
        return _form(request, error=str(exc.message), status_code=exc.status_code)
    response = redirect(PREFIX)
    set_session_cookie(request, response, value)
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
def sign_out(caller: Caller, _form: CheckedForm) -> RedirectResponse:
    console_sessions.end(caller.cookie)
    response = redirect(f"{PREFIX}/sign-in", flash="Signed out.")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response
