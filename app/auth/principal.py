"""Who is calling: the admin token or a machine identity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """`identity_id` is None for the admin token."""

    identity_id: str | None = None
    token_id: str | None = None
    client_ip: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.identity_id is None

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return "admin" if self.is_admin else f"identity:{self.identity_id}"


ADMIN = Principal()
