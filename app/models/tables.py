"""The Core tables behind the models, for the rotation's hot path.

A one-row UPDATE or INSERT written against the Table skips the ORM's per-statement work (the identity map, the
flush, loading instances), which costs more CPU than the SQL itself. The models stay the schema's one source.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from app.models.audit import AuditLog
from app.models.connection import AppConnection
from app.models.credential import RotationCredential
from app.models.rotation import SecretRotation
from app.models.secret import Secret
from app.models.webhook import Webhook, WebhookDelivery


def table_of(model: Any) -> Table:
    table: Table = model.__table__
    return table


AUDIT_LOG = table_of(AuditLog)
CONNECTIONS = table_of(AppConnection)
CREDENTIALS = table_of(RotationCredential)
ROTATIONS = table_of(SecretRotation)
SECRETS = table_of(Secret)
WEBHOOKS = table_of(Webhook)
WEBHOOK_DELIVERIES = table_of(WebhookDelivery)
