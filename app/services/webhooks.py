"""W1–W5 and the delivery log: webhooks of a project's environment, managed with the admin token only.

The URL and the secret key are sealed to the row (app.models.sealed) and the secret key is never returned. Writes
are added and flushed in the request's session, which commits when the handler returns."""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.auth.principal import Principal
from app.config import get_settings
from app.errors import NotFound, ValidationFailure
from app.models import Environment, Webhook, WebhookDelivery
from app.models.base import new_id
from app.models.sealed import WEBHOOK_SECRET_KEY, WEBHOOK_URL
from app.models.webhook import DeliveryStatus
from app.schemas.paging import LIST_CAP
from app.schemas.webhooks import WebhookCreate, WebhookUpdate
from app.services.projects import get_project
from app.services.rotations import get_environment
from app.store import audit
from app.timeutil import utcnow
from app.webhooks import bodies, delivery, targets
from app.webhooks.events import Event, Scope, payload

INVALID_SLACK_URL = "Incoming Webhook URL is invalid."


def get_webhook(session: Session, webhook_id: str) -> Webhook:
    webhook = session.get(Webhook, webhook_id) if "\x00" not in webhook_id else None
    if webhook is None:
        raise NotFound(f"Webhook with ID '{webhook_id}' not found")
    return webhook


def environment_of(session: Session, webhook: Webhook) -> Environment:
    return session.get_one(Environment, webhook.environment_id)  # the foreign key cascades: it exists


def _audit(session: Session, actor: Principal, event: str, webhook: Webhook, **extra: object) -> None:
    """One audit row in the change's transaction. Never the URL: a Slack URL is a credential."""
    audit.record(
        session,
        actor=actor,
        event=event,
        project_id=webhook.project_id,
        resource_type="webhook",
        resource_id=webhook.id,
        metadata={"environmentId": webhook.environment_id, "secretPath": webhook.secret_path, **extra},
    )


def check_url(url: str, webhook_type: str) -> None:
    """422 on `webhookUrl` for a Slack hook that is not Slack's, or a target that may not be sent to."""
    if webhook_type == "slack" and bodies.SLACK_HOST not in url:
        raise ValidationFailure.one(["webhookUrl"], INVALID_SLACK_URL)
    try:
        targets.check_at_create(url, allow_private=get_settings().webhook_allow_private)
    except targets.RefusedTarget as exc:
        raise exc.as_422() from None


def create_webhook(session: Session, body: WebhookCreate, *, actor: Principal) -> tuple[Webhook, Environment]:
    project = get_project(session, body.projectId)
    environment = get_environment(session, project.id, body.environment)
    check_url(body.webhookUrl, body.type)
    webhook = Webhook(
        id=new_id(),
        project_id=project.id,
        environment_id=environment.id,
        secret_path=body.secretPath,
        type=body.type,
        encrypted_url="",
        events_filter=[entry.model_dump() for entry in body.eventsFilter or []],
    )
    webhook.encrypted_url = WEBHOOK_URL.seal(webhook.id, body.webhookUrl)
    secret_key = body.webhookSecretKey.get_secret_value() if body.webhookSecretKey is not None else ""
    if secret_key:
        webhook.encrypted_secret_key = WEBHOOK_SECRET_KEY.seal(webhook.id, secret_key)
    session.add(webhook)
    session.flush()
    _audit(session, actor, "create-webhook", webhook, webhookType=webhook.type, signed=bool(secret_key))
    return webhook, environment


def list_webhooks(
    session: Session, project_id: str, *, environment: str | None, secret_path: str | None
) -> list[tuple[Webhook, Environment, str]]:
    """W2: the project's webhooks (optionally of one environment slug and exact path), with their URLs opened."""
    project = get_project(session, project_id)
    query = (
        select(Webhook, Environment)
        .join(Environment, col(Environment.id) == Webhook.environment_id)
        .where(col(Webhook.project_id) == project.id)
        .order_by(col(Webhook.created_at), col(Webhook.id))
        .limit(LIST_CAP)
    )
    if environment is not None:
        query = query.where(col(Environment.slug) == environment)
    if secret_path is not None:
        query = query.where(col(Webhook.secret_path) == secret_path)
    return [(hook, env, WEBHOOK_URL.open(hook.id, hook.encrypted_url)) for hook, env in session.exec(query).all()]


def update_webhook(session: Session, webhook: Webhook, body: WebhookUpdate, *, actor: Principal) -> Webhook:
    """W3: `isDisabled` and `eventsFilter`; 422 when neither is given."""
    if body.isDisabled is None and body.eventsFilter is None:
        raise ValidationFailure.one([], "At least one field is required")
    if body.isDisabled is not None:
        webhook.is_disabled = body.isDisabled
    if body.eventsFilter is not None:
        webhook.events_filter = [entry.model_dump() for entry in body.eventsFilter]
    webhook.updated_at = utcnow()
    session.add(webhook)
    session.flush()
    _audit(session, actor, "update-webhook", webhook, changedFields=sorted(body.model_fields_set))
    return webhook


def delete_webhook(session: Session, webhook: Webhook, *, actor: Principal) -> Webhook:
    """W4: its deliveries go with it (the foreign key cascades), sent or not."""
    _audit(session, actor, "delete-webhook", webhook)
    session.delete(webhook)
    session.flush()
    return webhook


def test_webhook(session: Session, webhook: Webhook) -> Webhook:
    """W5: send the `test` event now, in the request (the one delivery that is), and record it in the webhook's
    last status and its delivery log. Never retried; 200 whatever the receiver answered. Nothing is written before
    the post, so no write lock is held while the receiver answers."""
    project = get_project(session, webhook.project_id)
    environment = environment_of(session, webhook)
    test = payload(
        Event.TEST, Scope(project.id, project.name, environment.slug, environment.name, webhook.secret_path), {}
    )
    test["project"].pop("environmentName")  # Infisical's test payload has none
    event_id, occurred = new_id(), utcnow()
    timestamp_ms = int(occurred.timestamp() * 1000)
    body = bodies.render(webhook.type, test, event_id=event_id, timestamp_ms=timestamp_ms)
    key = WEBHOOK_SECRET_KEY.open(webhook.id, webhook.encrypted_secret_key) if webhook.encrypted_secret_key else None
    outcome = delivery.post(
        WEBHOOK_URL.open(webhook.id, webhook.encrypted_url),
        body,
        secret_key=key,
        event_id=event_id,
        timestamp_ms=timestamp_ms,
        allow_private=get_settings().webhook_allow_private,
    )
    done = utcnow()
    session.add(
        WebhookDelivery(
            webhook_id=webhook.id,
            event_id=event_id,
            event=Event.TEST.value,
            body=body,
            occurred_at_ms=timestamp_ms,
            status=DeliveryStatus.DELIVERED if outcome.ok else DeliveryStatus.FAILED,
            attempts=1,
            give_up_at=done,
            last_error=outcome.error,
            last_response_code=outcome.status_code,
            created_at=occurred,
            last_attempt_at=done,
            delivered_at=done if outcome.ok else None,
        )
    )
    webhook.last_status = "success" if outcome.ok else "failed"
    webhook.last_run_error_message = outcome.error
    session.add(webhook)
    session.flush()
    return webhook


def deliveries(session: Session, webhook: Webhook, *, offset: int, limit: int) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    query = (
        select(WebhookDelivery)
        .where(col(WebhookDelivery.webhook_id) == webhook.id)
        .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(query).all())
