"""An OpenRouter key-management emulator: a real HTTP server on loopback speaking the wire format of
docs/contracts.md ("OpenRouter keys API") (status codes, full key objects, integer error codes, offset
pagination of 100 newest-first) so that the official SDK accepts every answer.

Decisions where the spec is silent: a disabled or expired key gets 401 on /key, on inference and on the
management routes; an expired key stays readable by `GET /keys/{hash}` and deletable; `expires_at` on create
must carry seconds and a zone (`Z` or an offset, as the official SDK sends an aware datetime), must lie in the
future, and is answered normalised to UTC with milliseconds; a management key is never listed under /keys;
hashes are random (not derived from the key). Each chat completion is charged (emulators/usage.py): `usage`,
the period usages, `limit_remaining` and `last_used_at` follow it, and a `:free` model costs nothing. Every key belongs
to an account (a management key's is chosen when it is made, "default" unless named; a minted key takes its
creator's): /keys and /keys/{hash} see only the caller's account, and another account's hash answers 404,
as a real provider does.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.server import EmulatorServer, Request, Response
from emulators.usage import Meter, completion_cost, requested_model

API_PREFIX = "/api/v1"
PAGE_SIZE = 100
WORKSPACE_ID = "0df9e665-d932-5740-b2c7-b52af166bc11"
CREATOR_USER_ID = "user_2dHFtVWx2n56w6HkM0000000000"
LIMIT_RESETS = ("daily", "weekly", "monthly")
DEFAULT_MODEL = "openai/gpt-4o"
FREE_MODEL_DAILY_REQUESTS = 1000
EXPIRES_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MESSAGES = {
    400: "Invalid request parameters",
    401: "Missing Authentication header",
    403: "Only management keys can perform this operation",
    404: "Resource not found",
    405: "Method not allowed",
    409: "Conflict",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
UPDATE_FIELDS = ("name", "disabled", "limit", "limit_reset", "include_byok_in_limit", "workspace_id")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _expiry(value: Any, now: datetime) -> datetime | None:
    """A create's `expires_at` as an aware datetime (OpenRouter §4.1); _BadRequest unless null or a future
    ISO 8601 instant with seconds and a zone."""
    if value is None:
        return None
    if not isinstance(value, str) or not EXPIRES_AT.match(value):
        raise _BadRequest("expires_at must be ISO 8601 with seconds")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _BadRequest("expires_at must be ISO 8601 with seconds") from None
    if moment <= now:
        raise _BadRequest("expires_at must be in the future")
    return moment


@dataclass
class _Key:
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
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at) if self.updated_at else None,
            "last_used_at": _iso(last_used_at) if last_used_at else None,
            "expires_at": _iso(self.expires_at) if self.expires_at else None,
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
            "expires_at": _iso(self.expires_at) if self.expires_at else None,
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


class _BadRequest(Exception):
    pass


class OpenRouterEmulator(EmulatorServer):
    name = "openrouter"

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    # --- state -------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._keys: dict[str, _Key] = {}  # by hash, management keys included
        self._by_plaintext: dict[str, _Key] = {}
        self._seq = 0

    def _new_key(self, name: str, *, management: bool, account: str = "default") -> _Key:
        """Create and store a key. Caller holds self._lock."""
        self._seq += 1
        plaintext = "sk-or-v1-" + secrets.token_hex(32)
        key = _Key(
            seq=self._seq,
            hash=secrets.token_hex(32),
            plaintext=plaintext,
            name=name,
            management=management,
            created_at=self.clock(),
            account=account,
        )
        self._keys[key.hash] = key
        self._by_plaintext[plaintext] = key
        return key

    def create_management_key(self, name: str = "mgmt", account: str = "default") -> str:
        with self._lock:
            return self._new_key(name, management=True, account=account).plaintext

    def _account(self, request: Request) -> str:
        """The account of a request's management key (already checked by `_managed`)."""
        with self._lock:
            return self._by_plaintext[request.bearer or ""].account

    def live_keys(self) -> list[dict]:
        """Every non-deleted, non-management key of every account (disabled and expired included), newest first."""
        with self._lock:
            now = self.clock()
            keys = [k for k in self._keys.values() if not k.deleted and not k.management]
            return [k.to_json(now) for k in sorted(keys, key=lambda k: -k.seq)]

    def key_works(self, api_key: str) -> bool:
        with self._lock:
            key = self._by_plaintext.get(api_key)
            return key is not None and key.usable(self.clock())

    # --- wire format -------------------------------------------------------------------------

    def error_response(self, status: int, message: str | None = None) -> Response:
        return Response(
            status,
            {
                "error": {"code": status, "message": message or MESSAGES.get(status, "Error"), "metadata": None},
                "user_id": None,
                "openrouter_metadata": None,
            },
        )

    def handle(self, request: Request) -> Response:
        if not request.path.startswith(API_PREFIX + "/"):
            return self.error_response(404)
        path = request.path[len(API_PREFIX) :].rstrip("/")
        method = request.method
        try:
            if path in ("/key", "/auth/key"):
                return self._current_key(request) if method == "GET" else self.error_response(405)
            if path == "/chat/completions":
                return self._chat(request) if method == "POST" else self.error_response(405)
            if path == "/keys":
                if method == "GET":
                    return self._managed(request, self._list)
                if method == "POST":
                    return self._managed(request, self._create)
                return self.error_response(405)
            if path.startswith("/keys/") and path.count("/") == 2:
                key_hash = path[len("/keys/") :]
                handler = {"GET": self._get, "PATCH": self._update, "DELETE": self._delete}.get(method)
                if handler is None:
                    return self.error_response(405)
                return self._managed(request, lambda r: handler(r, key_hash))
        except _BadRequest as exc:
            return self.error_response(400, str(exc))
        return self.error_response(404)

    def _caller(self, request: Request) -> tuple[_Key | None, Response | None]:
        token = request.bearer
        if token is None:
            return None, self.error_response(401, "Missing Authentication header")
        with self._lock:
            key = self._by_plaintext.get(token)
            if key is not None and not key.deleted and key.expired(self.clock()):
                return None, self.error_response(401, "API key expired")
            if key is None or not key.usable(self.clock()):
                return None, self.error_response(401, "User not found.")
            return key, None

    def _managed(self, request: Request, operation) -> Response:
        caller, denied = self._caller(request)
        if denied is not None:
            return denied
        if not caller.management:
            return self.error_response(403, "Only management keys can perform this operation")
        return operation(request)

    def _current_key(self, request: Request) -> Response:
        caller, denied = self._caller(request)
        if denied is not None:
            return denied
        with self._lock:
            return Response(200, {"data": caller.current_key_json(self.clock())})

    def _chat(self, request: Request) -> Response:
        caller, denied = self._caller(request)
        if denied is not None:
            return denied
        if caller.management:
            return self.error_response(401, "Management keys cannot be used for inference")
        try:
            model = requested_model(request.json(), DEFAULT_MODEL)
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        with self._lock:
            now = self.clock()
            cost = completion_cost(model, self.completion_cost)
            caller.meter.charge(cost, now)
        return Response(
            200,
            {
                "id": "gen-" + secrets.token_hex(12),
                "object": "chat.completion",
                "created": int(now.timestamp()),
                "model": model,
                "provider": "emulator",
                "system_fingerprint": None,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                # What the request cost in credits, as OpenRouter reports it with each completion.
                "usage": {
                    "prompt_tokens": 1,
                    "completion_tokens": 1,
                    "total_tokens": 2,
                    "cost": float(cost),
                    "is_byok": False,
                },
            },
        )

    def _list(self, request: Request) -> Response:
        offset_text = request.param("offset") or "0"
        if not offset_text.isdigit():
            raise _BadRequest("offset must be a non-negative integer")
        include_disabled = request.param("include_disabled") == "true"
        include_expired = request.param("include_expired") == "true"
        account = self._account(request)
        with self._lock:
            now = self.clock()
            keys = [
                k
                for k in self._keys.values()
                if not k.deleted
                and not k.management
                and k.account == account
                and (include_disabled or not k.disabled)
                and (include_expired or not k.expired(now))
            ]
            keys.sort(key=lambda k: -k.seq)
            offset = int(offset_text)
            return Response(200, {"data": [k.to_json(now) for k in keys[offset : offset + PAGE_SIZE]]})

    def _create(self, request: Request) -> Response:
        body = _json_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise _BadRequest("name is required")
        fields = _validated_fields(
            body, ("limit", "limit_reset", "include_byok_in_limit", "workspace_id", "creator_user_id")
        )
        expires_at = _expiry(body.get("expires_at"), self.clock())
        account = self._account(request)
        with self._lock:
            key = self._new_key(name, management=False, account=account)
            for field_name, value in fields.items():
                setattr(key, field_name, value)
            key.expires_at = expires_at
            self.count_create()
            return Response(201, {"data": key.to_json(self.clock()), "key": key.plaintext})

    def _live(self, key_hash: str, account: str) -> _Key | None:
        key = self._keys.get(key_hash)
        return key if key is not None and not key.deleted and not key.management and key.account == account else None

    def _get(self, request: Request, key_hash: str) -> Response:
        account = self._account(request)
        with self._lock:
            key = self._live(key_hash, account)
            return self.error_response(404) if key is None else Response(200, {"data": key.to_json(self.clock())})

    def _update(self, request: Request, key_hash: str) -> Response:
        body = _json_object(request)
        fields = _validated_fields(body, UPDATE_FIELDS)
        if not fields:
            raise _BadRequest("No update fields provided")
        account = self._account(request)
        with self._lock:
            key = self._live(key_hash, account)
            if key is None:
                return self.error_response(404)
            for field_name, value in fields.items():
                setattr(key, field_name, value)
            key.updated_at = self.clock()
            return Response(200, {"data": key.to_json(self.clock())})

    def _delete(self, request: Request, key_hash: str) -> Response:
        account = self._account(request)
        with self._lock:
            key = self._live(key_hash, account)
            if key is None:
                return self.error_response(404)
            key.deleted = True
            del self._by_plaintext[key.plaintext]
            return Response(200, {"deleted": True})


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise _BadRequest("Invalid request parameters") from None
    if not isinstance(body, dict):
        raise _BadRequest("Invalid request parameters")
    return body


def _validated_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The allowed fields present in `body`, checked against the OpenRouter §4.1 / OpenRouter §6 rules.
    Unknown ones are ignored."""
    fields = {name: body[name] for name in allowed if name in body}
    for name, value in fields.items():
        if name == "name" and (not isinstance(value, str) or not value):
            raise _BadRequest("name must be a non-empty string")
        if (
            name == "limit"
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0)
        ):
            raise _BadRequest("limit must be a non-negative number or null")
        if name == "limit_reset" and value is not None and value not in LIMIT_RESETS:
            raise _BadRequest("limit_reset must be daily, weekly, monthly or null")
        if name in ("include_byok_in_limit", "disabled") and not isinstance(value, bool):
            raise _BadRequest(f"{name} must be a boolean")
        if name == "workspace_id":
            try:
                uuid.UUID(str(value))
            except ValueError:
                raise _BadRequest("workspace_id must be a UUID") from None
        if name == "creator_user_id" and value is not None and not isinstance(value, str):
            raise _BadRequest("creator_user_id must be a string or null")
    return fields
