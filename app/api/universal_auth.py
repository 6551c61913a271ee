"""U1–U4, S1–S5 (admin only) and A1–A3 (no auth header): universal auth (identity spec §6)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app.api.auth_body import form_or_json, parse_body
from app.api.deps import CurrentPrincipal, SessionDep, client_ip
from app.auth import login as access_tokens
from app.auth.permissions import require_admin
from app.schemas.identities import (
    AccessTokenBody,
    ClientSecretCreate,
    LoginBody,
    UniversalAuthCreate,
    UniversalAuthUpdate,
    client_secret_public,
    login_response,
    universal_auth_public,
)
from app.services import universal_auth as service

router = APIRouter(tags=["universal-auth"])

UA_PATH = "/api/v1/auth/universal-auth/identities/{identityId}"
NO_STORE = {"Cache-Control": "no-store"}


def _secret_response(body: dict) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)


# --- U1–U4 ------------------------------------------------------------------------------------------


@router.post(UA_PATH, operation_id="attachUniversalAuth")
def attach(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: UniversalAuthCreate | None = None
) -> dict:
    require_admin(principal, "create", "identity")
    ua = service.attach(session, actor=principal, identity_id=str(identityId), body=body or UniversalAuthCreate())
    return {"identityUniversalAuth": universal_auth_public(ua)}


@router.get(UA_PATH, operation_id="getUniversalAuth")
def get(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> dict:
    require_admin(principal, "read", "identity")
    return {"identityUniversalAuth": universal_auth_public(service.get_universal_auth(session, str(identityId)))}


@router.patch(UA_PATH, operation_id="updateUniversalAuth")
def update(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: UniversalAuthUpdate | None = None
) -> dict:
    require_admin(principal, "edit", "identity")
    ua = service.update(session, actor=principal, identity_id=str(identityId), body=body or UniversalAuthUpdate())
    return {"identityUniversalAuth": universal_auth_public(ua)}


@router.delete(UA_PATH, operation_id="revokeUniversalAuth")
def remove(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> dict:
    require_admin(principal, "delete", "identity")
    return {
        "identityUniversalAuth": universal_auth_public(
            service.remove(session, actor=principal, identity_id=str(identityId))
        )
    }


# --- S1–S5 ------------------------------------------------------------------------------------------


@router.post(UA_PATH + "/client-secrets", operation_id="createClientSecret")
def create_client_secret(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: ClientSecretCreate | None = None
) -> JSONResponse:
    require_admin(principal, "create", "identity")
    value, secret = service.create_client_secret(
        session, actor=principal, identity_id=str(identityId), body=body or ClientSecretCreate()
    )
    return _secret_response({"clientSecret": value, "clientSecretData": client_secret_public(secret)})


@router.get(UA_PATH + "/client-secrets", operation_id="listClientSecrets")
def list_client_secrets(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> dict:
    require_admin(principal, "read", "identity")
    return {
        "clientSecretData": [client_secret_public(s) for s in service.list_client_secrets(session, str(identityId))]
    }


@router.get(UA_PATH + "/client-secrets/{clientSecretId}", operation_id="getClientSecret")
def get_client_secret(
    identityId: uuid.UUID, clientSecretId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> dict:
    require_admin(principal, "read", "identity")
    secret = service.get_client_secret(session, str(identityId), str(clientSecretId))
    return {"clientSecretData": client_secret_public(secret)}


@router.post(UA_PATH + "/client-secrets/{clientSecretId}/revoke", operation_id="revokeClientSecret")
def revoke_client_secret(
    identityId: uuid.UUID, clientSecretId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> dict:
    require_admin(principal, "edit", "identity")
    secret = service.revoke_client_secret(
        session, actor=principal, identity_id=str(identityId), client_secret_id=str(clientSecretId)
    )
    return {"clientSecretData": client_secret_public(secret)}


@router.post(UA_PATH + "/clear-lockouts", operation_id="clearUniversalAuthLockouts")
def clear_lockouts(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> dict:
    require_admin(principal, "edit", "identity")
    return {"deleted": service.clear_lockouts(session, actor=principal, identity_id=str(identityId))}


# --- A1–A3: no Authorization header -----------------------------------------------------------------


async def _login_body(request: Request) -> LoginBody:
    return await parse_body(request, LoginBody)


async def _token_body(request: Request) -> AccessTokenBody:
    return await parse_body(request, AccessTokenBody)


@router.post(
    "/api/v1/auth/universal-auth/login", operation_id="universalAuthLogin", openapi_extra=form_or_json(LoginBody)
)
async def login(request: Request, body: Annotated[LoginBody, Depends(_login_body)]) -> JSONResponse:
    # No request session: a login is its own units of work, which keep a refused attempt's records (see login).
    # `async`: the hash check runs on its own small pool, not on the threads reads use.
    token, ua = await access_tokens.login(
        client_id=body.clientId, client_secret=body.clientSecret, client_ip=client_ip(request)
    )
    return _secret_response(login_response(token, ua.access_token_ttl, ua.access_token_max_ttl))


@router.post("/api/v1/auth/token/renew", operation_id="renewAccessToken", openapi_extra=form_or_json(AccessTokenBody))
def renew(body: Annotated[AccessTokenBody, Depends(_token_body)], session: SessionDep) -> JSONResponse:
    row = access_tokens.renew(session, token=body.accessToken)
    return _secret_response(login_response(body.accessToken, row.ttl, row.max_ttl))


@router.post("/api/v1/auth/token/revoke", operation_id="revokeAccessToken", openapi_extra=form_or_json(AccessTokenBody))
def revoke(body: Annotated[AccessTokenBody, Depends(_token_body)], session: SessionDep) -> dict:
    access_tokens.revoke(session, token=body.accessToken)
    return {"message": "Successfully revoked access token"}
