"""The request boundary: every request is checked here, before routing and authentication.

Pure ASGI. A body over the limit is refused with 413, from its Content-Length or by counting what
arrives, before it is buffered whole. A body that is meant as JSON (a JSON content type, or none at all)
but does not parse, nests too deep or is not UTF-8 is refused with 422. A body sent without a JSON
content type that parses as an object is read as JSON (`curl -d '{...}'`).

Poison text is refused with 422 wherever it appears (path, query, JSON keys and values, form fields):
lone surrogates, NUL and other control characters (tab, line feed and carriage return excepted), and
bidirectional overrides. PostgreSQL refuses NUL and surrogates only when they are written or read back,
so such text would otherwise be committed by one request and break every later read of it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import parse_qsl, unquote_to_bytes

from app.api.errors import error_response
from app.validation import POISON_TEXT

BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
AUTH_PREFIX = "/api/v1/auth/"
FORM = b"application/x-www-form-urlencoded"
_PASS_THROUGH = (FORM, b"multipart/")
POISON_MESSAGE = "Text must not contain control characters, lone surrogates or bidirectional overrides"
# Clients repeat their query strings (an SDK reads the same secret again and again): short ones' verdicts are kept.
MAX_CACHED_QUERY_BYTES = 512


class BodyTooLarge(Exception):
    pass


class InputGuardMiddleware:
    def __init__(self, app, *, max_bytes: int, max_auth_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.max_auth_bytes = max_auth_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        where = _poison_in_url(scope)
        if where is not None:
            return await _poisoned(where)(scope, receive, send)
        if scope["method"] not in BODY_METHODS:
            return await self.app(scope, receive, send)
        limit = self.max_auth_bytes if scope["path"].startswith(AUTH_PREFIX) else self.max_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(limit)(scope, receive, send)
        try:
            body = await _read_body(receive, limit)
        except BodyTooLarge:
            return await _too_large(limit)(scope, receive, send)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type == FORM:
            where = _poison_in_form(body)
            if where is not None:
                return await _poisoned(where)(scope, receive, send)
        elif body.strip() and not content_type.startswith(_PASS_THROUGH):
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                issue = {"code": "invalid_json", "message": "Body is not valid JSON", "path": []}
                return await error_response(422, "ValidationFailure", [issue])(scope, receive, send)
            where = _poison_in_json(parsed, [])
            if where is not None:
                return await _poisoned(where)(scope, receive, send)
            if content_type != b"application/json" and isinstance(parsed, dict):
                new_headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"content-type"]
                scope = dict(scope, headers=[*new_headers, (b"content-type", b"application/json")])
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()  # after the body: wait for the disconnect, as Starlette expects
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _too_large(limit: int):
    return error_response(413, "PayloadTooLarge", f"Request body is larger than the limit of {limit} bytes")


def _poisoned(path: list):
    return error_response(
        422, "ValidationFailure", [{"code": "invalid_string", "message": POISON_MESSAGE, "path": path}]
    )


def _poison_in_url(scope) -> list | None:
    """Where the path or query holds poison text (or a query that is not UTF-8), else None."""
    if POISON_TEXT.search(scope["path"]):
        return ["path"]
    query = scope.get("query_string") or b""
    if not query:
        return None
    poisoned = _query_poisoned(query) if len(query) <= MAX_CACHED_QUERY_BYTES else _query_poisoned.__wrapped__(query)
    return ["query"] if poisoned else None


@lru_cache(maxsize=1024)
def _query_poisoned(query: bytes) -> bool:
    try:
        text = unquote_to_bytes(query.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return POISON_TEXT.search(text) is not None


def _poison_in_form(body: bytes) -> list | None:
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return []
    for name, value in fields:
        if POISON_TEXT.search(name) or POISON_TEXT.search(value):
            return [name]
    return None


def _poison_in_json(value, path: list) -> list | None:
    """The path of the first poisoned key or string in a parsed JSON document (depth-first), else None."""
    if isinstance(value, str):
        return path if POISON_TEXT.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if POISON_TEXT.search(key):
                return [*path, key]
            found = _poison_in_json(item, [*path, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _poison_in_json(item, [*path, index])
            if found is not None:
                return found
    return None
