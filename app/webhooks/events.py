"""The events keyturn sends, and the JSON each one carries (docs/contracts.md, Webhooks: payloads).

Infisical's own two (`secrets.modified`, `secrets.rotation-failed`) keep its shape; keyturn's add fields to the
same `project` object. No payload carries key material, a provider's text or a ciphertext: failures travel as a
category (`errorCategory`) and a fixed sentence for it (`errorMessage`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Event(StrEnum):
    SECRETS_MODIFIED = "secrets.modified"
    ROTATION_FAILED = "secrets.rotation-failed"
    ROTATION_SUCCEEDED = "secrets.rotation-succeeded"
    REVOCATION_FAILED = "keys.revocation-failed"
    REVOCATION_HELD = "keys.revocation-held"
    REVOCATION_FORCED = "keys.revocation-forced"
    KEYS_EXPIRING = "keys.expiring"
    CONSUMERS_LAGGING = "consumers.lagging"
    TEST = "test"  # W5 only: never matched, never filtered on


# What `eventsFilter` accepts.
FILTERABLE = tuple(event.value for event in Event if event is not Event.TEST)
# Infisical's events carry `workspaceId` (a copy of projectId) only on these.
_WITH_WORKSPACE_ID = {Event.SECRETS_MODIFIED, Event.TEST}


class FailureCategory(StrEnum):
    """Why a rotation or a revocation failed, as far as a receiver is told (rotation §6.3: a category, never the
    provider's text)."""

    PROVIDER_UNREACHABLE = "provider-unreachable"
    PROVIDER_RATE_LIMITED = "provider-rate-limited"
    PROVIDER_ERROR = "provider-error"
    CREDENTIALS_REJECTED = "credentials-rejected"
    REQUEST_REJECTED = "request-rejected"
    VERIFICATION_FAILED = "verification-failed"
    CONNECTION_UNAVAILABLE = "connection-unavailable"
    INTERNAL_ERROR = "internal-error"


CATEGORY_TEXT = {
    FailureCategory.PROVIDER_UNREACHABLE: "The provider could not be reached or timed out.",
    FailureCategory.PROVIDER_RATE_LIMITED: "The provider refused the request as rate limited (429).",
    FailureCategory.PROVIDER_ERROR: "The provider answered with a server error (5xx).",
    FailureCategory.CREDENTIALS_REJECTED: "The provider rejected the connection's management key (401 or 403).",
    FailureCategory.REQUEST_REJECTED: "The provider rejected the request (4xx).",
    FailureCategory.VERIFICATION_FAILED: "The new key did not pass verification and was not published.",
    FailureCategory.CONNECTION_UNAVAILABLE: "The rotation's app connection is unusable (missing or undecryptable).",
    FailureCategory.INTERNAL_ERROR: "keyturn could not store or publish the new key (internal error).",
}


def category_of_status(status: int | None, *, retryable: bool = False) -> FailureCategory:
    """The category of a provider failure from its HTTP status (None: no answer)."""
    if status is None:
        return FailureCategory.PROVIDER_UNREACHABLE if retryable else FailureCategory.PROVIDER_ERROR
    if status == 429:
        return FailureCategory.PROVIDER_RATE_LIMITED
    if status in (401, 403):
        return FailureCategory.CREDENTIALS_REJECTED
    if status >= 500:
        return FailureCategory.PROVIDER_ERROR
    return FailureCategory.REQUEST_REJECTED


def failure_fields(category: FailureCategory | str) -> dict[str, str]:
    category = FailureCategory(category)
    return {"errorMessage": CATEGORY_TEXT[category], "errorCategory": category.value}


@dataclass(frozen=True)
class Scope:
    """Where an event happened, as receivers see it and as webhooks are matched."""

    project_id: str
    project_name: str
    environment: str  # slug
    environment_name: str
    secret_path: str


def payload(event: Event, scope: Scope, fields: dict[str, Any]) -> dict[str, Any]:
    """The general payload without `eventId` and `timestamp` (added at rendering): `{event, project}`, with the
    scope first in Infisical's order, then the event's own fields."""
    project: dict[str, Any] = {"workspaceId": scope.project_id} if event in _WITH_WORKSPACE_ID else {}
    project.update(
        projectId=scope.project_id,
        projectName=scope.project_name,
        environment=scope.environment,
        environmentName=scope.environment_name,
        secretPath=scope.secret_path,
    )
    project.update({name: value for name, value in fields.items() if value is not None})
    return {"event": event.value, "project": project}


def rotation_fields(rotation: Any, **fields: Any) -> dict[str, Any]:
    """The fields every rotation event carries, then `fields`. `rotation` is a SecretRotation (typed loosely:
    this module stays free of the models)."""
    return {"rotationId": rotation.id, "rotationName": rotation.name, "rotationType": rotation.type, **fields}


@dataclass(frozen=True)
class Wording:
    """What a person reads (the Slack message): what happened, and what to do about it."""

    title: str
    advice: str


WORDING = {
    Event.SECRETS_MODIFIED: Wording(
        "A secret value has been added or modified.",
        "Nothing, unless your consumers cache the value: they read the new one on their next fetch.",
    ),
    Event.ROTATION_FAILED: Wording(
        "A secret rotation has failed.",
        "The previous key is still published and working. Fix the cause (see Error), then rotate now "
        "(POST …/rotate-secrets); otherwise keyturn tries again at the next scheduled time.",
    ),
    Event.ROTATION_SUCCEEDED: Wording(
        "A secret rotation succeeded: a new key is published.",
        "Nothing. Consumers pick up the new key on their next read; the old one stays valid for the overlap.",
    ),
    Event.REVOCATION_FAILED: Wording(
        "Revoking a superseded key failed; it stays queued and is retried.",
        "Check the connection's management key and the provider's status. The old key still works until it is "
        "revoked; this repeats hourly while it keeps failing.",
    ),
    Event.REVOCATION_HELD: Wording(
        "Revoking a superseded key is held: the key is still in use.",
        "Move the consumers named in the rotation's consumers view (GET …/consumers) to the new key; the hold "
        "ends when the key is quiet, or at maxHoldSeconds, when it is revoked anyway.",
    ),
    Event.REVOCATION_FORCED: Wording(
        "A key was revoked before its time (emergency rotation, or its hold reached maxHoldSeconds).",
        "Consumers still using the old key now fail: make sure they read the secret again.",
    ),
    Event.KEYS_EXPIRING: Wording(
        "The active key expires within one rotation interval.",
        "keyturn rotates it now even if auto-rotation is off. If rotations fail, consumers break at expiresAt: "
        "fix the rotation before then.",
    ),
    Event.CONSUMERS_LAGGING: Wording(
        "Consumers still use a superseded key.",
        "Restart or refresh the identities named here so they read the current key; until then its revocation is held.",
    ),
    Event.TEST: Wording("Test message from keyturn", "Nothing: this checks the webhook's address and signature."),
}
