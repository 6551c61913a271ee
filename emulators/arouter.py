"""An ARouter key-management emulator speaking the seed contract of docs/contracts.md ("ARouter keys API")
ARouter §1–5 (`/v1/keys`, top-level `id` and `key`, `spending_limit`, verification by `GET /v1/models`), or,
with `variant="openrouter-like"`, the public variant of ARouter §6 (`/api/v1/keys`, `data.hash`, `limit`).

Decisions where the spec is silent: list pages hold `page_size` keys (default `self.page_size`) and
carry `next_page_token` only when more remain; delete answers `self.delete_status` (204 by default);
an admin key may call `/v1/models`; sending both `spending_limit` and `limit` is a 400. Every key belongs to
an account (an admin key's is chosen when it is made, "default" unless named; a minted key takes its
creator's): listing and deleting see only the caller's account, and another account's id answers 404.
Each chat completion is charged as at the OpenRouter emulator (emulators/usage.py): the seed list reports
`last_used_at`, the variant also `usage` and `limit_remaining`; a `:free` model costs nothing but is still a
use. The seed contract has no expiry: an `expires_at` on create is ignored like any other unknown field.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.server import EmulatorServer, Request, Response
from emulators.usage import Meter, completion_cost, requested_model

VARIANTS = ("seed", "openrouter-like")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
MESSAGES = {
    400: "Invalid request",
    401: "Invalid API key",
    403: "Admin key required",
    404: "Not found",
    405: "Method not allowed",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
DEFAULT_MODEL = "openai/gpt-4o"
MODELS = [
    {"id": "openai/gpt-4o", "object": "model", "owned_by": "openai"},
    {"id": "anthropic/claude-sonnet-4", "object": "model", "owned_by": "anthropic"},
]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Key:
    seq: int
    id: str
    plaintext: str
    name: str
    admin: bool
    created_at: datetime
    account: str = "default"
    spending_limit: float | None = None
    allowed_providers: list[str] | None = None
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    meter: Meter = field(default_factory=Meter)

    @property
    def last_used_at(self) -> str | None:
        return _iso(self.meter.last_used_at) if self.meter.last_used_at else None

    def seed_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "last_used_at": self.last_used_at,
            "spending_limit": self.spending_limit,
            "allowed_providers": self.allowed_providers,
        }

    def variant_json(self, now: datetime) -> dict[str, Any]:
        limit_reset = self.extra.get("limit_reset")
        return {
            "hash": self.id,
            "name": self.name,
            "label": self.plaintext[:10] + "...",
            "disabled": False,
            "limit": self.spending_limit,
            "limit_remaining": self.meter.remaining(self.spending_limit, limit_reset, now),
            "limit_reset": limit_reset,
            "usage": self.meter.usage_json(now)["usage"],
            "created_at": _iso(self.created_at),
            "updated_at": None,
            "last_used_at": self.last_used_at,
        }


class _BadRequest(Exception):
    pass


class ARouterEmulator(EmulatorServer):
    name = "arouter"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, variant: str = "seed"):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}")
        self.variant = variant
        self.page_size = 100
        self.delete_status = 204  # 200 and 202 are also allowed by the spec
        super().__init__(host, port)

    @property
    def base_url(self) -> str:
        """What keyturn's `arouter_base_url` is set to; the client appends the key paths."""
        return self.root_url

    @property
    def keys_path(self) -> str:
        return "/v1/keys" if self.variant == "seed" else "/api/v1/keys"

    # --- state -------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._keys: dict[str, _Key] = {}
        self._by_plaintext: dict[str, _Key] = {}
        self._seq = 0
        if hasattr(self, "page_size"):
            self.page_size = 100
            self.delete_status = 204

    def _new_key(self, name: str, *, admin: bool, account: str = "default") -> _Key:
        """Create and store a key. Caller holds self._lock."""
        self._seq += 1
        plaintext = ("lr_admin_" if admin else "lr_live_") + secrets.token_hex(24)
        key = _Key(
            seq=self._seq,
            id="key_" + secrets.token_hex(12),
            plaintext=plaintext,
            name=name,
            admin=admin,
            created_at=self.clock(),
            account=account,
        )
        self._keys[key.id] = key
        self._by_plaintext[plaintext] = key
        return key

    def create_management_key(self, name: str = "admin", account: str = "default") -> str:
        with self._lock:
            return self._new_key(name, admin=True, account=account).plaintext

    def _account(self, request: Request) -> str:
        """The account of a request's admin key (already checked by `_admin`)."""
        with self._lock:
            return self._by_plaintext[request.bearer or ""].account

    def _wire(self, key: _Key) -> dict[str, Any]:
        return key.seed_json() if self.variant == "seed" else key.variant_json(self.clock())

    def _listable(self, account: str | None = None) -> list[_Key]:
        """Live non-admin keys of `account` (every account when None), newest first."""
        keys = [k for k in self._keys.values() if not k.deleted and not k.admin and account in (None, k.account)]
        return sorted(keys, key=lambda k: -k.seq)

    def live_keys(self) -> list[dict]:
        """Every non-deleted, non-admin key of every account in the active variant's list form, newest first."""
        with self._lock:
            return [self._wire(k) for k in self._listable()]

    def key_works(self, api_key: str) -> bool:
        with self._lock:
            key = self._by_plaintext.get(api_key)
            return key is not None and not key.deleted

    # --- wire format -------------------------------------------------------------------------

    def error_response(self, status: int, message: str | None = None) -> Response:
        error_type = ERROR_TYPES.get(status, "api_error")
        return Response(status, {"error": {"message": message or MESSAGES.get(status, "Error"), "type": error_type}})

    def handle(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        try:
            if path in ("/v1/models", "/api/v1/models"):
                return self._models(request) if method == "GET" else self.error_response(405)
            if path in ("/v1/chat/completions", "/api/v1/chat/completions"):
                return self._chat(request) if method == "POST" else self.error_response(405)
            if self.variant != "seed" and path == "/api/v1/key":
                return self._current_key(request) if method == "GET" else self.error_response(405)
            if path == self.keys_path:
                operation = {"GET": self._list, "POST": self._create}.get(method)
                return self._admin(request, operation) if operation else self.error_response(405)
            prefix = self.keys_path + "/"
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                if method != "DELETE":
                    return self.error_response(405)
                key_id = path[len(prefix) :]
                return self._admin(request, lambda r: self._delete(r, key_id))
        except _BadRequest as exc:
            return self.error_response(400, str(exc))
        return self.error_response(404)

    def _caller(self, request: Request) -> tuple[_Key | None, Response | None]:
        token = request.bearer
        if token is None:
            return None, self.error_response(401, "Missing API key")
        with self._lock:
            key = self._by_plaintext.get(token)
        if key is None or key.deleted:
            return None, self.error_response(401, "Invalid API key")
        return key, None

    def _admin(self, request: Request, operation) -> Response:
        caller, denied = self._caller(request)
        if denied is not None:
            return denied
        if not caller.admin:
            return self.error_response(403, "Admin key required")
        return operation(request)

    def _models(self, request: Request) -> Response:
        _, denied = self._caller(request)
        return denied or Response(200, {"object": "list", "data": MODELS})

    def _current_key(self, request: Request) -> Response:
        caller, denied = self._caller(request)
        if denied is not None:
            return denied
        with self._lock:
            return Response(200, {"data": {**caller.variant_json(self.clock()), "is_management_key": caller.admin}})

    def _chat(self, request: Request) -> Response:
        caller, denied = self._caller(request)
        if denied is not None:
            return denied
        try:
            model = requested_model(request.json(), DEFAULT_MODEL)
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        with self._lock:
            now = self.clock()
            caller.meter.charge(completion_cost(model, self.completion_cost), now)
        return Response(
            200,
            {
                "id": "chatcmpl-" + secrets.token_hex(8),
                "object": "chat.completion",
                "created": int(now.timestamp()),
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    def _list(self, request: Request) -> Response:
        size_text = request.param("page_size") or str(self.page_size)
        token = request.param("page_token") or "off-0"
        if not size_text.isdigit() or not 1 <= int(size_text) <= 100:
            raise _BadRequest("page_size must be an integer from 1 to 100")
        if not token.startswith("off-") or not token[4:].isdigit():
            raise _BadRequest("invalid page_token")
        offset, size = int(token[4:]), int(size_text)
        account = self._account(request)
        with self._lock:
            keys = self._listable(account)
            body: dict[str, Any] = {"data": [self._wire(k) for k in keys[offset : offset + size]]}
        if offset + size < len(keys):
            body["next_page_token"] = f"off-{offset + size}"
        return Response(200, body)

    def _create(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            raise _BadRequest("body must be JSON") from None
        if not isinstance(body, dict):
            raise _BadRequest("body must be a JSON object")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise _BadRequest("name is required")
        if "spending_limit" in body and "limit" in body:
            raise _BadRequest("send either spending_limit or limit, not both")
        limit = body.get("spending_limit", body.get("limit"))
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0):
            raise _BadRequest("spending_limit must be a non-negative number")
        providers = body.get("allowed_providers")
        if providers is not None and (
            not isinstance(providers, list) or not all(isinstance(p, str) and p for p in providers)
        ):
            raise _BadRequest("allowed_providers must be a list of provider names")
        account = self._account(request)
        with self._lock:
            key = self._new_key(name, admin=False, account=account)
            key.spending_limit, key.allowed_providers = limit, providers
            key.extra["limit_reset"] = body.get("limit_reset")
            self.count_create()
            if self.variant == "seed":
                return Response(201, {**key.seed_json(), "key": key.plaintext})
            return Response(201, {"data": key.variant_json(self.clock()), "key": key.plaintext})

    def _delete(self, request: Request, key_id: str) -> Response:
        account = self._account(request)
        with self._lock:
            key = self._keys.get(key_id)
            if key is None or key.deleted or key.admin or key.account != account:
                return self.error_response(404, "API key not found")
            key.deleted = True
            del self._by_plaintext[key.plaintext]
            status = self.delete_status
        if status == 204:
            return Response(204)
        body = {"id": key_id, "deleted": True} if self.variant == "seed" else {"data": {"deleted": True}}
        return Response(status, body)
