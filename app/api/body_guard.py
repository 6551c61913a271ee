"""Request bodies, checked before routing and authentication: a size limit, and JSON that parses.

Pure ASGI. A body over the limit is refused with 413, from its Content-Length or by counting what
arrives, before it is buffered whole. A body that is meant as JSON (a JSON content type, or none at all)
but does not parse, nests too deep or is not UTF-8 is refused with 422, so no route, dependency or
token check ever sees it. A body sent without a JSON content type that parses as an object is read as
JSON (`curl -d '{...}'`). Form and multipart bodies pass through, size-checked only.
"""

from __future__ import annotations

import json

from app.api.errors import error_response

BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
AUTH_PREFIX = "/api/v1/auth/"
_PASS_THROUGH = (b"application/x-www-form-urlencoded", b"multipart/")


class BodyTooLarge(Exception):
    pass


class BodyGuardMiddleware:
    def __init__(self, app, *, max_bytes: int, max_auth_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.max_auth_bytes = max_auth_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
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
        if body.strip() and not content_type.startswith(_PASS_THROUGH):
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                issue = {"code": "invalid_json", "message": "Body is not valid JSON", "path": []}
                return await error_response(422, "ValidationFailure", [issue])(scope, receive, send)
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
