"""Webhooks (Infisical's W1–W5) and their outbox: one delivery row per (event, matching webhook).

A delivery row is written in the transaction of the change it reports, so a rolled-back change sends nothing and
a committed one is sent even if the process dies right after. The worker's sender claims due rows and retries them
(app.webhooks.sender)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from app.models.base import created_field, id_field


class Webhook(SQLModel, table=True):
    __tablename__ = "webhook"

    id: str = id_field()
    project_id: str = Field(foreign_key="project.id", ondelete="CASCADE", index=True, max_length=36)
    environment_id: str = Field(foreign_key="environment.id", ondelete="CASCADE", max_length=36)
    # A glob matched against the changed folder; `/` matches the root only.
    secret_path: str = Field(default="/", max_length=1024)
    type: str = Field(default="general", max_length=32)
    # Keyring tokens bound to (webhook, <column>, id): a Slack URL is itself a credential.
    encrypted_url: str = Field(sa_column=Column(Text, nullable=False))
    encrypted_secret_key: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    is_disabled: bool = False
    # Event names this webhook wants; empty means every event.
    events_filter: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    last_status: str | None = Field(default=None, max_length=16)
    last_run_error_message: str | None = Field(default=None, max_length=1024)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class DeliveryStatus:
    PENDING = "pending"  # due at next_attempt_at (pushed forward while a sender holds its claim)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # still failing when the retry window closed
    CANCELLED = "cancelled"  # the webhook was disabled before it could be sent


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    # The sender's claim scans pending rows by due time.
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: str = id_field()
    webhook_id: str = Field(foreign_key="webhook.id", ondelete="CASCADE", index=True, max_length=36)
    # The same for every webhook the event went to and across retries: receivers dedupe on it.
    event_id: str = Field(max_length=36)
    event: str = Field(max_length=64)
    # The exact bytes sent, rendered for the webhook's type when the event happened (never key material).
    body: str = Field(sa_column=Column(Text, nullable=False))
    # When the event happened, in Unix milliseconds: the body's `timestamp` and the signature's `t=`.
    occurred_at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    # Past this (the database's clock) a failed attempt is the last one.
    give_up_at: datetime
    claimed_by: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=1024)
    last_response_code: int | None = None
    created_at: datetime = created_field()
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
