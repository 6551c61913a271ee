"""Dependencies shared by the routers: the database session and the authenticated caller."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.auth import tokens, trusted_ips
from app.auth.principal import Principal
from app.db import get_session
from app.errors import ForbiddenIp, Unauthorized

# scope="function": the commit happens before the response is sent, so a client never reads ahead of it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise Unauthorized("Token missing")
    return value


IP_NOT_ALLOWED = "You are not allowed to access this resource from the current IP address"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def current_principal(request: Request) -> Principal:
    """The admin token or an identity access token, checked in the order of identity spec §2.2."""
    principal = tokens.authenticate(bearer_token(request))
    if principal.identity_id is None:
        return principal
    ip = client_ip(request)
    if not trusted_ips.allows(list(principal.trusted_ips), ip):
        raise ForbiddenIp(IP_NOT_ALLOWED)
    # A fresh copy per request: its grants memo starts empty, so membership changes apply at once.
    return dataclasses.replace(principal, client_ip=ip)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
