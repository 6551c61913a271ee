"""A route documented like any FastAPI route and served like a plain Starlette one.

Its endpoint takes the Request and returns a Response itself, so FastAPI has nothing to do per request: no
dependencies to solve, no body to parse, no response model to validate. Skipping that machinery (and its two
exit stacks) saves about 20 µs of CPU per request, more than the cached read itself costs. The OpenAPI
document still comes from the route's declaration; errors still reach the app's handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.routing import request_response

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class PlainRoute(APIRoute):
    def __init__(self, path: str, endpoint: Endpoint, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(endpoint)

    def get_route_handler(self) -> Endpoint:
        # Also what FastAPI serves when a router holding this route is included in another.
        return self.endpoint
