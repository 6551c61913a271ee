"""Dependencies shared by the routers: the database session and the authenticated caller."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlmodel import Session

from app.auth import caller
from app.auth.principal import Principal
from app.db import get_session
from app.errors import Unauthorized

# scope="function": the commit happens before the response is sent, so a client never reads ahead of it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise Unauthorized("Token missing")
    return value


def client_ip(request: Request) -> str | None:
    """The caller's IP address, or None when the peer's address is not one (a UNIX socket, a test client,
    or garbage a trusted proxy passed on in X-Forwarded-For). It is stored in audit rows and checked
    against trusted-IP lists, which refuse None unless they admit anywhere."""
    client = request.scope.get("client")
    return None if client is None else _address_text(client[0])


@lru_cache(maxsize=4096)  # parsing an address costs more than the rest of a cached read; peers repeat
def _address_text(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def current_principal(request: Request) -> Principal:
    """The admin token or an identity access token (identity §2.2), with this request's memberships."""
    return caller.for_request(caller.authenticate(bearer_token(request), client_ip(request)))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _no_store(response: Response) -> None:
    """For responses that carry key material (an API key, a client secret, an access token): no cache,
    proxy or browser may keep them."""
    response.headers["Cache-Control"] = "no-store"


NO_STORE = [Depends(_no_store)]
