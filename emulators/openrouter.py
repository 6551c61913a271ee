"""An OpenRouter key-management emulator: a real HTTP server on loopback speaking the wire format of
docs/contracts.md ("OpenRouter keys API") (status codes, full key objects, integer error codes, offset
pagination of 100 newest-first) so that the official SDK accepts every answer.

Decisions where the spec is silent: a disabled or expired key gets 401 on /key, on inference and on the
management routes; an expired key stays readable by `GET /keys/{hash}` and deletable; a management key is
never listed under /keys; hashes are random (not derived from the key). Each chat completion is charged
(emulators/usage.py): `usage`, the period usages, `limit_remaining` and `last_used_at` follow it, and a
`:free` model costs nothing. Every key belongs to an account (a management key's is chosen when it is made,
"default" unless named; a minted key takes its creator's): /keys and /keys/{hash} see only the caller's
account, and another account's hash answers 404, as a real provider does. The key object and the body rules
(`expires_at` included) are in emulators/openrouter_keys.py.
"""

from __future__ import annotations

import secrets

from emulators.openrouter_keys import (
    CREATE_FIELDS,
    UPDATE_FIELDS,
    BadRequest,
    Key,
    expiry,
    json_object,
    validated_fields,
)
from emulators.server import EmulatorServer, Request, Response
from emulators.usage import completion_cost, requested_model

API_PREFIX = "/api/v1"
PAGE_SIZE = 100
DEFAULT_MODEL = "openai/gpt-4o"
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


class OpenRouterEmulator(EmulatorServer):
    name = "openrouter"

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    # --- state -------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._keys: dict[str, Key] = {}  # by hash, management keys included
        self._by_plaintext: dict[str, Key] = {}
        self._seq = 0

    def _new_key(self, name: str, *, management: bool, account: str = "default") -> Key:
        """Create and store a key. Caller holds self._lock."""
        self._seq += 1
        plaintext = "sk-or-v1-" + secrets.token_hex(32)
        key = Key(
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
        except BadRequest as exc:
            return self.error_response(400, str(exc))
        return self.error_response(404)

    def _caller(self, request: Request) -> tuple[Key | None, Response | None]:
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
            raise BadRequest(str(exc)) from None
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
            raise BadRequest("offset must be a non-negative integer")
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
        body = json_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("name is required")
        fields = validated_fields(body, CREATE_FIELDS)
        expires_at = expiry(body.get("expires_at"), self.clock())
        account = self._account(request)
        with self._lock:
            key = self._new_key(name, management=False, account=account)
            for field_name, value in fields.items():
                setattr(key, field_name, value)
            key.expires_at = expires_at
            self.count_create()
            return Response(201, {"data": key.to_json(self.clock()), "key": key.plaintext})

    def _live(self, key_hash: str, account: str) -> Key | None:
        key = self._keys.get(key_hash)
        return key if key is not None and not key.deleted and not key.management and key.account == account else None

    def _get(self, request: Request, key_hash: str) -> Response:
        account = self._account(request)
        with self._lock:
            key = self._live(key_hash, account)
            return self.error_response(404) if key is None else Response(200, {"data": key.to_json(self.clock())})

    def _update(self, request: Request, key_hash: str) -> Response:
        body = json_object(request)
        fields = validated_fields(body, UPDATE_FIELDS)
        if not fields:
            raise BadRequest("No update fields provided")
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
