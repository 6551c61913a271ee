"""Load identities' project memberships as Grants, in one indexed query in its own short unit of work."""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import col, select

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
    return load_grants_of([identity_id]).get(identity_id, {})


def load_grants_of(identity_ids: Collection[str]) -> dict[str, dict[str, Grant]]:
    """Each identity's grants by project, for many identities in one query (identities without any are absent)."""
    grants: dict[str, dict[str, Grant]] = {}
    if not identity_ids:
        return grants
    with unit_of_work() as session:
        statement = select(IdentityMembership).where(col(IdentityMembership.identity_id).in_(list(identity_ids)))
        for row in session.exec(statement):
            grants.setdefault(row.identity_id, {})[row.project_id] = grant_from_row(row)
    return grants
