"""The OpenRouter emulator's key object and request rules: the key object (OpenRouter §3) and the `/key`
object (OpenRouter §8) as JSON, the full superset the official SDKs accept, and the checks of a create or
update body (OpenRouter §4.1, OpenRouter §6).
The server that holds the keys is emulators/openrouter.py.

`expires_at` on create must carry seconds and a zone (`Z`, or an offset, since the official SDK sends an
aware datetime so), must lie in the future, and is answered in UTC with milliseconds.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emulators.server import Request
from emulators.usage import Meter

WORKSPACE_ID = "0df9e665-d932-5740-b2c7-b52af166bc11"
CREATOR_USER_ID = "user_2dHFtVWx2n56w6HkM0000000000"
LIMIT_RESETS = ("daily", "weekly", "monthly")
FREE_MODEL_DAILY_REQUESTS = 1000
EXPIRES_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
UPDATE_FIELDS = ("name", "disabled", "limit", "limit_reset", "include_byok_in_limit", "workspace_id")
CREATE_FIELDS = ("limit", "limit_reset", "include_byok_in_limit", "workspace_id", "creator_user_id")


class BadRequest(Exception):
    """A request the provider answers with 400; the message is the answer's."""


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def expiry(value: Any, now: datetime) -> datetime | None:
    """A create's `expires_at` as an aware datetime (OpenRouter §4.1); BadRequest unless null or a future
    ISO 8601 instant with seconds and a zone."""
    if value is None:
        return None
    if not isinstance(value, str) or not EXPIRES_AT.match(value):
        raise BadRequest("expires_at must be ISO 8601 with seconds")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("expires_at must be ISO 8601 with seconds") from None
    if moment <= now:
        raise BadRequest("expires_at must be in the future")
    return moment.astimezone(UTC)


@dataclass
class Key:
    seq: int
    hash: str
    plaintext: str
    name: str
    management: bool
    created_at: datetime
    account: str = "default"
    disabled: bool = False
    limit: float | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    expires_at: datetime | None = None
    workspace_id: str = WORKSPACE_ID
    creator_user_id: str | None = CREATOR_USER_ID
    updated_at: datetime | None = None
    deleted: bool = False
    meter: Meter = field(default_factory=Meter)

    @property
    def label(self) -> str:
        secret = self.plaintext.removeprefix("sk-or-v1-")
        return f"sk-or-v1-{secret[:3]}...{secret[-3:]}"

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def usable(self, now: datetime) -> bool:
        return not self.deleted and not self.disabled and not self.expired(now)

    def limits(self, now: datetime) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "limit_remaining": self.meter.remaining(self.limit, self.limit_reset, now),
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            **self.meter.usage_json(now),
            "byok_usage": 0,
            "byok_usage_daily": 0,
            "byok_usage_weekly": 0,
            "byok_usage_monthly": 0,
        }

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The OpenRouter §3 key object (full superset). Never the plaintext."""
        last_used_at = self.meter.last_used_at
        return {
            "hash": self.hash,
            "name": self.name,
            "label": self.label,
            "disabled": self.disabled,
            **self.limits(now),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at) if self.updated_at else None,
            "last_used_at": iso(last_used_at) if last_used_at else None,
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "creator_user_id": self.creator_user_id,
            "external_user": None,
            "workspace_id": self.workspace_id,
        }

    def current_key_json(self, now: datetime) -> dict[str, Any]:
        """The OpenRouter §8 /key object (full superset)."""
        free_used = self.meter.free_requests_today(now)
        return {
            "label": self.label,
            "is_management_key": self.management,
            "is_provisioning_key": self.management,
            "is_free_tier": False,
            **self.limits(now),
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "creator_user_id": self.creator_user_id,
            "organization_id": None,
            "workspace_id": self.workspace_id,
            "allowed_data_regions": ["global"],
            "budgets": [],
            "effective_budget": None,
            "free_model_daily_requests": {
                "limit": FREE_MODEL_DAILY_REQUESTS,
                "remaining": max(0, FREE_MODEL_DAILY_REQUESTS - free_used),
                "used": free_used,
            },
            "rate_limit": {"requests": -1, "interval": "10s", "note": "This field is deprecated and safe to ignore."},
        }


def json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise BadRequest("Invalid request parameters") from None
    if not isinstance(body, dict):
        raise BadRequest("Invalid request parameters")
    return body


def validated_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The allowed fields present in `body`, checked against the OpenRouter §4.1 / OpenRouter §6 rules.
    Unknown ones are ignored."""
    fields = {name: body[name] for name in allowed if name in body}
    for name, value in fields.items():
        if name == "name" and (not isinstance(value, str) or not value):
            raise BadRequest("name must be a non-empty string")
        if (
            name == "limit"
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0)
        ):
            raise BadRequest("limit must be a non-negative number or null")
        if name == "limit_reset" and value is not None and value not in LIMIT_RESETS:
            raise BadRequest("limit_reset must be daily, weekly, monthly or null")
        if name in ("include_byok_in_limit", "disabled") and not isinstance(value, bool):
            raise BadRequest(f"{name} must be a boolean")
        if name == "workspace_id":
            try:
                uuid.UUID(str(value))
            except ValueError:
                raise BadRequest("workspace_id must be a UUID") from None
        if name == "creator_user_id" and value is not None and not isinstance(value, str):
            raise BadRequest("creator_user_id must be a string or null")
    return fields
