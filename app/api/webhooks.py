"""W1–W5: webhooks (Infisical's `/api/v1/webhooks`), and keyturn's delivery log. Management plane: the admin
token (or an org-admin identity) only, where Infisical takes user sessions only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from app.api.deps import CurrentPrincipal, SessionDep
from app.auth.permissions import require_admin
from app.auth.principal import Principal
from app.schemas.fields import SecretPath
from app.schemas.paging import Limit, Offset
from app.schemas.webhooks import (
    DeliveryList,
    WebhookCreate,
    WebhookEnvelope,
    WebhookList,
    WebhookUpdate,
    WebhookWithUrl,
    delivery_public,
    webhook_public,
)
from app.services import webhooks as service

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
SUBJECT = "webhooks"


def _admin(principal: Principal, action: str) -> None:
    require_admin(principal, action, SUBJECT)


@router.post("", operation_id="createWebhook")
def create_webhook(body: WebhookCreate, session: SessionDep, principal: CurrentPrincipal) -> WebhookEnvelope:
    _admin(principal, "create")
    webhook, environment = service.create_webhook(session, body, actor=principal)
    return WebhookEnvelope(message="Successfully created webhook", webhook=webhook_public(webhook, environment))


@router.get("", operation_id="listWebhooks")
def list_webhooks(
    session: SessionDep,
    principal: CurrentPrincipal,
    projectId: str = Query(min_length=1, max_length=64),
    environment: str | None = Query(None, max_length=64),
    secretPath: SecretPath | None = Query(None),
) -> WebhookList:
    _admin(principal, "read")
    rows = service.list_webhooks(session, projectId, environment=environment, secret_path=secretPath)
    return WebhookList(
        message="Successfully fetched webhook",
        webhooks=[WebhookWithUrl(**webhook_public(hook, env).model_dump(), url=url) for hook, env, url in rows],
    )


@router.patch("/{webhookId}", operation_id="updateWebhook")
def update_webhook(
    webhookId: uuid.UUID, body: WebhookUpdate, session: SessionDep, principal: CurrentPrincipal
) -> WebhookEnvelope:
    _admin(principal, "edit")
    webhook = service.update_webhook(session, service.get_webhook(session, str(webhookId)), body, actor=principal)
    environment = service.environment_of(session, webhook)
    return WebhookEnvelope(message="Successfully updated webhook", webhook=webhook_public(webhook, environment))


@router.delete("/{webhookId}", operation_id="deleteWebhook")
def delete_webhook(webhookId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> WebhookEnvelope:
    _admin(principal, "delete")
    webhook = service.get_webhook(session, str(webhookId))
    environment = service.environment_of(session, webhook)
    service.delete_webhook(session, webhook, actor=principal)
    return WebhookEnvelope(message="Successfully deleted webhook", webhook=webhook_public(webhook, environment))


@router.post("/{webhookId}/test", operation_id="testWebhook")
def test_webhook(webhookId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> WebhookEnvelope:
    _admin(principal, "edit")
    webhook = service.test_webhook(session, service.get_webhook(session, str(webhookId)))
    environment = service.environment_of(session, webhook)
    return WebhookEnvelope(message="Successfully tested webhook", webhook=webhook_public(webhook, environment))


@router.get("/{webhookId}/deliveries", operation_id="listWebhookDeliveries")
def list_deliveries(
    webhookId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, offset: Offset = 0, limit: Limit = 100
) -> DeliveryList:
    _admin(principal, "read")
    webhook = service.get_webhook(session, str(webhookId))
    rows = service.deliveries(session, webhook, offset=offset, limit=limit)
    return DeliveryList(deliveries=[delivery_public(row) for row in rows])
