"""Request ids (`req-` + 14 letters and digits) on every response and every log line."""

from __future__ import annotations

import logging
import os
import random
import secrets
import string

from app import logcontext
from app.api.errors import error_response

log = logging.getLogger("keyturn.api")

_ALPHABET = string.ascii_letters + string.digits
# Byte -> letter or digit. 256 is not a multiple of 62, so eight characters are a little likelier than the
# rest: 14 of them still carry about 83 random bits, plenty for ids that need to be unique.
_TO_ALPHABET = bytes(ord(_ALPHABET[i % len(_ALPHABET)]) for i in range(256))


# Request ids need to be unique, not unpredictable: a seeded PRNG avoids a system call on every request.
_rng = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _rng.seed(secrets.randbits(128)))  # forked workers diverge


def new_request_id() -> str:
    return "req-" + _rng.randbytes(14).translate(_TO_ALPHABET).decode()


class RequestContextMiddleware:
    """Pure ASGI, outermost: assigns the request id, serves `/path/` as `/path` without a redirect, and
    answers an unexpected exception with a 500 in Infisical's shape itself. Starlette's own last-resort
    handler re-raises, and the server would then log the exception's text, which may carry a secret."""

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

        started = False

        async def send_with_id(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*list(message["headers"]), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the last resort: answer 500, log the type, never the text
            log.error("unhandled %s on %s %s", type(exc).__name__, scope["method"], scope["path"])
            if not started:
                await error_response(500, "InternalServerError", "Something went wrong")(scope, receive, send_with_id)
        finally:
            logcontext.request_id.reset(token)
