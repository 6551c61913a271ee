"""The console's navigation: one entry per page, and who sees it. A new page is one entry here and one
router in app.console.ROUTERS."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.principal import Principal


@dataclass(frozen=True)
class NavEntry:
    label: str
    path: str
    admin_only: bool = False


ENTRIES = (
    NavEntry("Rotations", "/console"),
    NavEntry("New rotation", "/console/rotations/new"),
    NavEntry("Connections", "/console/connections"),
    NavEntry("Identities", "/console/identities", admin_only=True),
    NavEntry("Webhooks", "/console/webhooks", admin_only=True),
    NavEntry("Audit log", "/console/audit", admin_only=True),
)


def entries(principal: Principal) -> list[NavEntry]:
    return [entry for entry in ENTRIES if principal.is_admin or not entry.admin_only]
