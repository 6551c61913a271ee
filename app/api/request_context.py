"""Request ids (`req-` + 14 letters and digits) on every response and every log line."""

from __future__ import annotations

import json
import os
import random
import secrets
import string

from app import logcontext

_ALPHABET = string.ascii_letters + string.digits


# Request ids need to be unique, not unpredictable: a seeded PRNG avoids a system call on every request.
_rng = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _rng.seed(secrets.randbits(128)))  # forked workers diverge


def new_request_id() -> str:
    return "req-" + "".join(_rng.choices(_ALPHABET, k=14))


_JSON_METHODS = {b"POST", b"PATCH", b"PUT", b"DELETE"}


class RequestContextMiddleware:
    """Pure ASGI: assigns the request id, serves `/path/` as `/path` without a redirect, and reads a
    body sent without a JSON content type (e.g. `curl -d '{...}'`) as JSON when it parses as an object."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = new_request_id()
        token = logcontext.request_id.set(request_id)
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = dict(scope, path=path.rstrip("/") or "/", raw_path=None)
        if scope["method"].encode() in _JSON_METHODS:
            scope, receive = await _coerce_json_body(scope, receive)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*list(message["headers"]), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logcontext.request_id.reset(token)


async def _coerce_json_body(scope, receive):
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type in (b"application/json",) or content_type.startswith(b"multipart/"):
        return scope, receive
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return scope, receive
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    new_headers = list(scope.get("headers") or [])
    stripped = body.strip()
    if stripped.startswith(b"{"):
        try:
            if isinstance(json.loads(stripped), dict):
                new_headers = [(k, v) for k, v in new_headers if k != b"content-type"]
                new_headers.append((b"content-type", b"application/json"))
        except ValueError:
            pass
    scope = dict(scope, headers=new_headers)
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return scope, replay
