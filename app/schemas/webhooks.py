"""Webhook request bodies and the sanitised `webhook` object (W1–W5), and the delivery log (keyturn's).

The secret key is write-only: no response has a field for it. The URL appears only in W2's list items, as in
Infisical (a Slack URL is itself a credential: it is stored sealed)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, SecretStr, StrictBool

from app.models import Environment, Webhook, WebhookDelivery
from app.schemas.fields import RequestBody, ResponseBody, SecretPath, trimmed
from app.schemas.projects import ProjectEnvironment
from app.timeutil import iso
from app.webhooks.events import FILTERABLE

EventName = Literal[FILTERABLE]  # type: ignore[valid-type]  # the tuple of event names, spelt once in app.webhooks


class EventFilter(RequestBody):
    eventName: EventName


class WebhookCreate(RequestBody):
    # Secrets in a body are never echoed back in a validation error.
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    type: Literal["general", "slack"] = "general"
    projectId: Annotated[str, trimmed(1, 64)]
    environment: Annotated[str, trimmed(1, 64)]
    webhookUrl: Annotated[str, trimmed(1, 2048)]
    webhookSecretKey: Annotated[SecretStr, Field(max_length=256)] | None = None
    secretPath: SecretPath = "/"
    eventsFilter: list[EventFilter] | None = None


class WebhookUpdate(RequestBody):
    isDisabled: StrictBool | None = None
    eventsFilter: list[EventFilter] | None = None


class EventFilterPublic(ResponseBody):
    eventName: str


class WebhookPublic(ResponseBody):
    id: str
    projectId: str
    envId: str
    environment: ProjectEnvironment
    secretPath: str
    type: str
    isDisabled: bool
    lastStatus: str | None
    lastRunErrorMessage: str | None
    eventsFilter: list[EventFilterPublic]
    createdAt: str
    updatedAt: str


class WebhookWithUrl(WebhookPublic):
    url: str


class WebhookEnvelope(ResponseBody):
    message: str
    webhook: WebhookPublic


class WebhookList(ResponseBody):
    message: str
    webhooks: list[WebhookWithUrl]


def webhook_public(webhook: Webhook, environment: Environment) -> WebhookPublic:
    return WebhookPublic(
        id=webhook.id,
        projectId=webhook.project_id,
        envId=webhook.environment_id,
        environment=ProjectEnvironment(id=environment.id, name=environment.name, slug=environment.slug),
        secretPath=webhook.secret_path,
        type=webhook.type,
        isDisabled=webhook.is_disabled,
        lastStatus=webhook.last_status,
        lastRunErrorMessage=webhook.last_run_error_message,
        eventsFilter=[EventFilterPublic(eventName=entry["eventName"]) for entry in webhook.events_filter],
        createdAt=iso(webhook.created_at) or "",
        updatedAt=iso(webhook.updated_at) or "",
    )


class DeliveryPublic(ResponseBody):
    id: str
    webhookId: str
    eventId: str
    event: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    lastError: str | None
    lastResponseCode: int | None
    nextAttemptAt: str | None  # pending deliveries only
    createdAt: str
    lastAttemptAt: str | None
    deliveredAt: str | None


class DeliveryList(ResponseBody):
    deliveries: list[DeliveryPublic]


def delivery_public(row: WebhookDelivery) -> DeliveryPublic:
    return DeliveryPublic(
        id=row.id,
        webhookId=row.webhook_id,
        eventId=row.event_id,
        event=row.event,
        status=row.status,
        attempts=row.attempts,
        lastError=row.last_error,
        lastResponseCode=row.last_response_code,
        nextAttemptAt=iso(row.next_attempt_at) if row.status == "pending" else None,
        createdAt=iso(row.created_at) or "",
        lastAttemptAt=iso(row.last_attempt_at),
        deliveredAt=iso(row.delivered_at),
    )
