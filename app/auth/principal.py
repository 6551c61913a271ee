"""Who is calling: the admin token or a machine identity."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


GrantsLoader = Callable[[str], Mapping[str, Grant]]


@dataclass(frozen=True)
class Principal:
    """`identity_id` is None for the admin token.

    The grants are not part of the token: they are read on first use in each request through
    `grants_loader` (memoised on this instance only), so a membership change applies to the next request.
    A cache that keeps Principals across requests must hand out `dataclasses.replace(p)` copies, which start
    with an empty memo.
    """

    identity_id: str | None = None
    token_id: str | None = None
    client_ip: str | None = None
    # The identity's organisation role is `admin`: the same rights as the admin token (spec §10, decided).
    org_admin: bool = False
    # When the token stops being valid (min of renewal + TTL and creation + max TTL); None for the admin.
    expires_at: datetime | None = None
    # The UA config's accessTokenTrustedIps in request form; checked per request by the API layer.
    trusted_ips: tuple = ()
    # True when the token has a use limit: every request must be counted, so it must not be cached.
    uses_limited: bool = False
    grants_loader: GrantsLoader | None = field(default=None, compare=False, repr=False)
    _memo: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.identity_id is None or self.org_admin

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return "admin" if self.identity_id is None else f"identity:{self.identity_id}"

    def grants(self) -> Mapping[str, Grant]:
        """Project id -> Grant for every project the identity is a member of."""
        if self.identity_id is None or self.grants_loader is None:
            return {}
        if "grants" not in self._memo:
            self._memo["grants"] = self.grants_loader(self.identity_id)
        return self._memo["grants"]

    def grant_for(self, project_id: str) -> Grant | None:
        return self.grants().get(project_id)


ADMIN = Principal()
