"""U1–U4, S1–S5 (admin only) and A1–A3 (no auth header): universal auth (identity §6)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.api.auth_body import form_or_json, parse_body
from app.api.deps import NO_STORE, CurrentPrincipal, SessionDep, client_ip
from app.auth import login as access_tokens
from app.auth.permissions import require_admin
from app.schemas.fields import Message
from app.schemas.identities import (
    AccessTokenBody,
    ClientSecretCreate,
    LoginBody,
    UniversalAuthCreate,
    UniversalAuthUpdate,
)
from app.schemas.universal_auth_responses import (
    AccessToken,
    ClientSecretCreated,
    ClientSecretEnvelope,
    ClientSecretPublic,
    LockoutsCleared,
    UniversalAuthEnvelope,
    client_secret_public,
    universal_auth_public,
)
from app.services import universal_auth as service

router = APIRouter(tags=["universal-auth"])

UA_PATH = "/api/v1/auth/universal-auth/identities/{identityId}"


# --- U1–U4 ------------------------------------------------------------------------------------------


@router.post(UA_PATH, operation_id="attachUniversalAuth")
def attach(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: UniversalAuthCreate | None = None
) -> UniversalAuthEnvelope:
    require_admin(principal, "create", "identity")
    ua = service.attach(session, actor=principal, identity_id=str(identityId), body=body or UniversalAuthCreate())
    return UniversalAuthEnvelope(identityUniversalAuth=universal_auth_public(ua))


@router.get(UA_PATH, operation_id="getUniversalAuth")
def get(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> UniversalAuthEnvelope:
    require_admin(principal, "read", "identity")
    ua = service.get_universal_auth(session, str(identityId))
    return UniversalAuthEnvelope(identityUniversalAuth=universal_auth_public(ua))


@router.patch(UA_PATH, operation_id="updateUniversalAuth")
def update(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: UniversalAuthUpdate | None = None
) -> UniversalAuthEnvelope:
    require_admin(principal, "edit", "identity")
    ua = service.update(session, actor=principal, identity_id=str(identityId), body=body or UniversalAuthUpdate())
    return UniversalAuthEnvelope(identityUniversalAuth=universal_auth_public(ua))


@router.delete(UA_PATH, operation_id="revokeUniversalAuth")
def remove(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> UniversalAuthEnvelope:
    require_admin(principal, "delete", "identity")
    ua = service.remove(session, actor=principal, identity_id=str(identityId))
    return UniversalAuthEnvelope(identityUniversalAuth=universal_auth_public(ua))


# --- S1–S5 ------------------------------------------------------------------------------------------


@router.post(UA_PATH + "/client-secrets", operation_id="createClientSecret", dependencies=NO_STORE)
def create_client_secret(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: ClientSecretCreate | None = None
) -> ClientSecretCreated:
    require_admin(principal, "create", "identity")
    value, secret = service.create_client_secret(
        session, actor=principal, identity_id=str(identityId), body=body or ClientSecretCreate()
    )
    return ClientSecretCreated(clientSecret=value, clientSecretData=client_secret_public(secret))


@router.get(UA_PATH + "/client-secrets", operation_id="listClientSecrets")
def list_client_secrets(
    identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ClientSecretEnvelope[list[ClientSecretPublic]]:
    require_admin(principal, "read", "identity")
    secrets = [client_secret_public(s) for s in service.list_client_secrets(session, str(identityId))]
    return ClientSecretEnvelope[list[ClientSecretPublic]](clientSecretData=secrets)


@router.get(UA_PATH + "/client-secrets/{clientSecretId}", operation_id="getClientSecret")
def get_client_secret(
    identityId: uuid.UUID, clientSecretId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ClientSecretEnvelope[ClientSecretPublic]:
    require_admin(principal, "read", "identity")
    secret = service.get_client_secret(session, str(identityId), str(clientSecretId))
    return ClientSecretEnvelope[ClientSecretPublic](clientSecretData=client_secret_public(secret))


@router.post(UA_PATH + "/client-secrets/{clientSecretId}/revoke", operation_id="revokeClientSecret")
def revoke_client_secret(
    identityId: uuid.UUID, clientSecretId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ClientSecretEnvelope[ClientSecretPublic]:
    require_admin(principal, "edit", "identity")
    secret = service.revoke_client_secret(
        session, actor=principal, identity_id=str(identityId), client_secret_id=str(clientSecretId)
    )
    return ClientSecretEnvelope[ClientSecretPublic](clientSecretData=client_secret_public(secret))


@router.post(UA_PATH + "/clear-lockouts", operation_id="clearUniversalAuthLockouts")
def clear_lockouts(identityId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> LockoutsCleared:
    require_admin(principal, "edit", "identity")
    return LockoutsCleared(deleted=service.clear_lockouts(session, actor=principal, identity_id=str(identityId)))


# --- A1–A3: no Authorization header -----------------------------------------------------------------


async def _login_body(request: Request) -> LoginBody:
    return await parse_body(request, LoginBody)


async def _token_body(request: Request) -> AccessTokenBody:
    return await parse_body(request, AccessTokenBody)


@router.post(
    "/api/v1/auth/universal-auth/login",
    operation_id="universalAuthLogin",
    openapi_extra=form_or_json(LoginBody),
    dependencies=NO_STORE,
)
async def login(request: Request, body: Annotated[LoginBody, Depends(_login_body)]) -> AccessToken:
    # No request session: a login is its own units of work, which keep a refused attempt's records (see login).
    # `async`: the hash check runs on its own small pool, not on the threads reads use.
    token, ua = await access_tokens.login(
        client_id=body.clientId, client_secret=body.clientSecret, client_ip=client_ip(request)
    )
    return AccessToken(accessToken=token, expiresIn=ua.access_token_ttl, accessTokenMaxTTL=ua.access_token_max_ttl)


@router.post(
    "/api/v1/auth/token/renew",
    operation_id="renewAccessToken",
    openapi_extra=form_or_json(AccessTokenBody),
    dependencies=NO_STORE,
)
def renew(body: Annotated[AccessTokenBody, Depends(_token_body)], session: SessionDep) -> AccessToken:
    row = access_tokens.renew(session, token=body.accessToken)
    return AccessToken(accessToken=body.accessToken, expiresIn=row.ttl, accessTokenMaxTTL=row.max_ttl)


@router.post("/api/v1/auth/token/revoke", operation_id="revokeAccessToken", openapi_extra=form_or_json(AccessTokenBody))
def revoke(body: Annotated[AccessTokenBody, Depends(_token_body)], session: SessionDep) -> Message:
    access_tokens.revoke(session, token=body.accessToken)
    return Message(message="Successfully revoked access token")
