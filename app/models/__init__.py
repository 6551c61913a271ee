"""SQLModel tables. Import every table here so Alembic and metadata see the whole schema."""

from app.models.audit import AuditLog
from app.models.change_counter import ChangeCounter
from app.models.connection import AppConnection
from app.models.console_session import ConsoleSession
from app.models.consumer import SecretConsumer
from app.models.credential import CredentialState, RotationCredential
from app.models.identity import AccessToken, ClientSecret, Identity, IdentityMembership, UniversalAuth
from app.models.project import Environment, Organization, Project
from app.models.rotation import SecretRotation
from app.models.secret import Secret
from app.models.webhook import Webhook, WebhookDelivery
from app.models.worker import WorkerHeartbeat

__all__ = [
    "AccessToken",
    "AppConnection",
    "AuditLog",
    "ChangeCounter",
    "ClientSecret",
    "ConsoleSession",
    "CredentialState",
    "Environment",
    "Identity",
    "IdentityMembership",
    "Organization",
    "Project",
    "RotationCredential",
    "Secret",
    "SecretConsumer",
    "SecretRotation",
    "UniversalAuth",
    "Webhook",
    "WebhookDelivery",
    "WorkerHeartbeat",
]
