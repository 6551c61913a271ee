"""Dependencies shared by the routers: the database session and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
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
    return request.client.host if request.client else None


def current_principal(request: Request) -> Principal:
    """The admin token or an identity access token (identity spec §2.2), with this request's memberships."""
    return caller.for_request(caller.authenticate(bearer_token(request), client_ip(request)))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
