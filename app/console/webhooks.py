"""Webhooks (admin only, as W1–W5): a project's webhooks, create (the secret key write-only), disable and
enable, send a test, delete, and each webhook's delivery log, through the API's models and service.

A webhook's URL is shown as its origin only: a Slack URL's path is itself a credential (it is stored sealed),
so neither it nor the signing key is ever rendered, not even back into a refused form.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app.api.deps import SessionDep
from app.api.webhooks import SUBJECT
from app.auth.permissions import require_admin
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
from app.models import Webhook
from app.schemas.webhooks import WebhookCreate, WebhookUpdate
from app.services import projects
from app.services import webhooks as service
from app.webhooks.events import FILTERABLE

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WRITE_ONLY = ("csrf", "url", "secret_key")
DELIVERIES_PER_PAGE = 50


def origin(url: str) -> str:
    """scheme://host[:port]/… : where a webhook posts, without the user info, path or query that may hold a
    credential."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # never the user:password@ a URL may carry
    except ValueError:
        return "(unreadable URL)"
    if not (parts.scheme and host):
        return "(unreadable URL)"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/…"


def _refused(request: Request, caller: ConsoleCaller, exc: AppError) -> HTMLResponse:
    return render(
        request, "error.html", title="Webhooks", caller=caller, message=message_of(exc), status_code=exc.status_code
    )


def _page(
    request: Request,
    session: Session,
    caller: ConsoleCaller,
    project_id: str | None,
    form: dict,
    errors: dict,
    status: int = 200,
) -> HTMLResponse:
    listed = [(p, envs) for p, envs in projects.list_projects(session, type_filter=None, only=None)]
    chosen = next((p for p, _envs in listed if p.id == project_id), listed[0][0] if listed else None)
    rows = service.list_webhooks(session, chosen.id, environment=None, secret_path=None) if chosen else []
    return render(
        request,
        "webhooks.html",
        title="Webhooks",
        caller=caller,
        projects=listed,
        project=chosen,
        webhooks=[(hook, env, origin(url)) for hook, env, url in rows],
        events=FILTERABLE,
        form={key: value for key, value in form.items() if key not in WRITE_ONLY},
        errors=errors,
        status_code=status,
    )


@router.get("/webhooks")
def webhooks_page(request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    try:
        require_admin(caller.principal, "read", SUBJECT)
    except AppError as exc:
        return _refused(request, caller, exc)
    return _page(request, session, caller, request.query_params.get("project"), {"environment": "dev"}, {})


@router.post("/webhooks", response_model=None)
def create_webhook(
    request: Request, caller: Caller, form: CheckedForm, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    project_id = form.get("project_id", "")
    chosen = [event for event in FILTERABLE if form.get(f"event_{event}") == "true"]
    fields = {
        "type": form.get("type", "general"),
        "projectId": project_id,
        "environment": form.get("environment", ""),
        "secretPath": form.get("secret_path", "") or "/",
        "webhookUrl": form.get("url", ""),
        "webhookSecretKey": form.get("secret_key") or None,
        "eventsFilter": [{"eventName": event} for event in chosen] or None,
    }
    try:
        require_admin(caller.principal, "create", SUBJECT)
        body = WebhookCreate.model_validate(fields)
        webhook, environment = service.create_webhook(session, body, actor=caller.principal)
    except (ValidationError, AppError) as exc:
        rolled_back(session)
        status = exc.status_code if isinstance(exc, AppError) else 422
        return _page(request, session, caller, project_id, form, errors_of(exc), status)
    return redirect(
        f"{PREFIX}/webhooks?project={webhook.project_id}",
        flash=f"Webhook created for {environment.slug} {webhook.secret_path}; send a test to check the receiver.",
    )


def _act(caller: ConsoleCaller, session: Session, webhook_id: str, action: str, run, done: str) -> RedirectResponse:
    """One change to a webhook, back to its project's list with the outcome."""
    try:
        require_admin(caller.principal, action, SUBJECT)
        webhook = service.get_webhook(session, webhook_id)
        project_id = webhook.project_id
        run(webhook)
    except AppError as exc:
        rolled_back(session)
        return redirect(f"{PREFIX}/webhooks", flash=message_of(exc), kind="error")
    return redirect(f"{PREFIX}/webhooks?project={project_id}", flash=done)


def _set_disabled(caller: ConsoleCaller, session: Session, disabled: bool):
    return lambda webhook: service.update_webhook(
        session, webhook, WebhookUpdate(isDisabled=disabled), actor=caller.principal
    )


@router.post("/webhooks/{webhook_id}/disable")
def disable(webhook_id: str, caller: Caller, _form: CheckedForm, session: SessionDep) -> RedirectResponse:
    done = "Webhook disabled: nothing is sent to it, and what was waiting is cancelled."
    return _act(caller, session, webhook_id, "edit", _set_disabled(caller, session, True), done)


@router.post("/webhooks/{webhook_id}/enable")
def enable(webhook_id: str, caller: Caller, _form: CheckedForm, session: SessionDep) -> RedirectResponse:
    return _act(caller, session, webhook_id, "edit", _set_disabled(caller, session, False), "Webhook enabled.")


@router.post("/webhooks/{webhook_id}/test")
def send_test(webhook_id: str, caller: Caller, _form: CheckedForm, session: SessionDep) -> RedirectResponse:
    """W5: the `test` event now; its delivery is kept in the log whatever the receiver answered."""
    try:
        require_admin(caller.principal, "edit", SUBJECT)
        webhook = service.test_webhook(session, service.get_webhook(session, webhook_id))
    except AppError as exc:
        rolled_back(session)
        return redirect(f"{PREFIX}/webhooks", flash=message_of(exc), kind="error")
    log = f"{PREFIX}/webhooks/{webhook.id}"
    if webhook.last_status == "success":
        return redirect(log, flash="Test delivered: the receiver answered 2xx.")
    return redirect(log, flash=f"The test was not delivered: {webhook.last_run_error_message}.", kind="error")


@router.post("/webhooks/{webhook_id}/delete")
def delete(webhook_id: str, caller: Caller, _form: CheckedForm, session: SessionDep) -> RedirectResponse:
    done = "Webhook deleted, with its delivery log."

    def remove(webhook: Webhook) -> None:
        service.delete_webhook(session, webhook, actor=caller.principal)

    return _act(caller, session, webhook_id, "delete", remove, done)


@router.get("/webhooks/{webhook_id}")
def deliveries(webhook_id: str, request: Request, caller: Caller, session: SessionDep) -> HTMLResponse:
    query = request.query_params
    page = int(query["page"]) if query.get("page", "").isdigit() and int(query["page"]) > 0 else 1
    try:
        require_admin(caller.principal, "read", SUBJECT)
        webhook = service.get_webhook(session, webhook_id)
        rows = service.deliveries(
            session, webhook, offset=(page - 1) * DELIVERIES_PER_PAGE, limit=DELIVERIES_PER_PAGE + 1
        )
    except AppError as exc:
        return _refused(request, caller, exc)
    return render(
        request,
        "webhook.html",
        title="Webhook deliveries",
        caller=caller,
        webhook=webhook,
        environment=service.environment_of(session, webhook),
        deliveries=rows[:DELIVERIES_PER_PAGE],
        page=page,
        more=len(rows) > DELIVERIES_PER_PAGE,
    )
