"""Who is calling: the admin token or a machine identity, as its token says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Grant:
    """An identity's membership in one project: its role slugs and optional scope (None = everything)."""

    project_id: str
    roles: frozenset[str]
    environments: tuple[str, ...] | None = None
    secret_paths: tuple[str, ...] | None = None

    @property
    def is_scoped(self) -> bool:
        return self.environments is not None or self.secret_paths is not None


@dataclass(frozen=True)
class Principal:
    """`identity_id` is None for the admin token.

    Immutable and free of anything that belongs to one request, so a cache may keep one and hand the same
    object to every request. The identity's project memberships are not part of it: they can change while
    the token lives, so each request reads them afresh (app.auth.caller.Caller, a Principal with its grants).
    """

    identity_id: str | None = None
    token_id: str | None = None
    client_ip: str | None = None
    # The identity's organisation role is `admin`: the same rights as the admin token (identity §10, decided).
    org_admin: bool = False
    # When the token stops being valid (min of renewal + TTL and creation + max TTL); None for the admin.
    expires_at: datetime | None = None
    # The UA config's accessTokenTrustedIps in request form; checked per request (app.auth.caller).
    trusted_ips: tuple[dict, ...] = ()
    # True when the token has a use limit: every request must be counted, so it must not be cached.
    uses_limited: bool = False

    @property
    def is_admin(self) -> bool:
        return self.identity_id is None or self.org_admin

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return "admin" if self.identity_id is None else f"identity:{self.identity_id}"

    def grant_for(self, project_id: str) -> Grant | None:
        """The identity's membership in the project. A bare Principal does not know its memberships: only the
        request's Caller does, so asking one is a bug, and fails loudly rather than answering "none"."""
        if self.identity_id is None:
            return None
        raise RuntimeError("permission checks need the request's Caller (app.auth.caller.for_request)")


ADMIN = Principal()
