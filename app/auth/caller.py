"""The caller of one request: its bearer token checked against its IP, and its project memberships.

`authenticate` answers who is calling (a Principal, which a cache may keep); `for_request` adds what the
identity may do in each project, read from the database when the request begins, so a membership change
applies to the next request. Permission checks (app.auth.permissions) ask the Caller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from app.auth import tokens, trusted_ips
from app.auth.grants import load_grants, load_grants_of
from app.auth.principal import Grant, Principal
from app.errors import AppError, ForbiddenIp, Unauthorized

IP_NOT_ALLOWED = "You are not allowed to access this resource from the current IP address"


def authenticate(token: str, client_ip: str | None) -> Principal:
    """The admin token or an identity access token, checked in the order of identity §2.2: the token
    (401), then the UA config's trusted IPs (403)."""
    return _from_ip(tokens.authenticate(token), client_ip)


def authenticate_token_id(token_id: str, client_ip: str | None) -> Principal:
    """As `authenticate`, for a console session's access token (held by id, never by value)."""
    return _from_ip(tokens.authenticate_id(token_id), client_ip)


def _from_ip(principal: Principal, client_ip: str | None) -> Principal:
    if principal.identity_id is None:
        return principal
    if not trusted_ips.allows(list(principal.trusted_ips), client_ip):
        raise ForbiddenIp(IP_NOT_ALLOWED)
    return dataclasses.replace(principal, client_ip=client_ip)


@dataclass(frozen=True)
class Caller(Principal):
    """A Principal together with its memberships as they were when this request began. Built per request
    (`for_request`), never cached: the memberships are a snapshot."""

    grants: Mapping[str, Grant] = field(default_factory=lambda: MappingProxyType({}), compare=False, repr=False)

    def grant_for(self, project_id: str) -> Grant | None:
        return self.grants.get(project_id)


def for_request(principal: Principal) -> Principal:
    """The principal as one request's permission checks need it. The admin token and an org-admin identity
    may do everything, so their memberships are not read."""
    if principal.identity_id is None or principal.org_admin:
        return principal
    return _with_grants(principal, load_grants(principal.identity_id))


def _with_grants(principal: Principal, grants: dict[str, Grant]) -> Principal:
    facts = {f.name: getattr(principal, f.name) for f in dataclasses.fields(Principal)}
    return Caller(**facts, grants=MappingProxyType(grants))


def recheck(principals: Sequence[Principal]) -> list[Principal | AppError]:
    """Each principal again, as its token, its trusted IPs and its memberships stand now (what a new request with
    the same token from the same address would get, or the error it would get), spending no token use. Two
    queries however many there are: long-lived event streams re-check their callers together."""
    identities = [p for p in principals if p.identity_id is not None]
    fresh = tokens.recheck({p.token_id for p in identities if p.token_id is not None})
    grants = load_grants_of({p.identity_id for p in identities if p.identity_id is not None})
    checked: list[Principal | AppError] = []
    for old in principals:
        if old.identity_id is None:
            checked.append(old)
            continue
        now = fresh.get(old.token_id or "", Unauthorized(tokens.NOT_FOUND))
        if isinstance(now, AppError):
            checked.append(now)
        elif not trusted_ips.allows(list(now.trusted_ips), old.client_ip):
            checked.append(ForbiddenIp(IP_NOT_ALLOWED))
        else:
            now = dataclasses.replace(now, client_ip=old.client_ip)
            checked.append(now if now.org_admin else _with_grants(now, grants.get(old.identity_id, {})))
    return checked
