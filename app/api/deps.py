"""Dependencies shared by the routers: the database session and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.auth.principal import ADMIN, Principal
from app.bootstrap import is_admin_token
from app.db import get_session
from app.errors import Unauthorized

SessionDep = Annotated[Session, Depends(get_session)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise Unauthorized("Token missing")
    return value


def current_principal(request: Request) -> Principal:
    token = bearer_token(request)
    if is_admin_token(token):
        return ADMIN
    raise Unauthorized("No identity access token found")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
