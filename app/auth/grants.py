"""Load an identity's project memberships as Grants, in one indexed query in its own short unit of work."""

from __future__ import annotations

from sqlmodel import select

from app.auth.principal import Grant
from app.db import unit_of_work
from app.models import IdentityMembership


def grant_from_row(row: IdentityMembership) -> Grant:
    scope = row.scope or {}
    environments = scope.get("environments")
    paths = scope.get("secretPaths")
    return Grant(
        project_id=row.project_id,
        roles=frozenset(entry["role"] for entry in row.roles or []),
        environments=tuple(environments) if environments else None,
        secret_paths=tuple(paths) if paths else None,
    )


def load_grants(identity_id: str) -> dict[str, Grant]:
    with unit_of_work() as session:
        rows = session.exec(select(IdentityMembership).where(IdentityMembership.identity_id == identity_id)).all()
        return {row.project_id: grant_from_row(row) for row in rows}
