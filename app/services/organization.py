"""The single organisation: created on first use, its id never changes (identity §3.2)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.db import unit_of_work
from app.errors import NotFound
from app.models import Organization
from app.timeutil import iso

ORG_NAME = "keyturn"


def get_organization(session: Session) -> Organization:
    """The organisation row, created if missing. Call it before making other changes (on SQLite the creation
    waits for any write the request already holds).

    Two first requests racing could both insert; the oldest row is always the one returned, so the id
    everyone sees stays the same.
    """
    org = _oldest(session)
    if org is None:
        # Its own unit of work, committed before the re-read: the request's transaction would see only its own
        # row, so two racing first requests could each answer a different id; committed, both read the oldest.
        with unit_of_work() as creating:
            creating.add(Organization(name=ORG_NAME))
        org = _oldest(session)
        assert org is not None  # just committed, and the row is never deleted
    return org


def org_id(session: Session) -> str:
    return get_organization(session).id


def _oldest(session: Session) -> Organization | None:
    return session.exec(select(Organization).order_by(col(Organization.created_at), col(Organization.id))).first()


def find_organization(session: Session, organization_id: str) -> Organization:
    org = get_organization(session)
    if org.id != organization_id:
        raise NotFound(f"Organization with ID '{organization_id}' not found")
    return org


def organization_public(org: Organization, *, membership: bool) -> dict:
    """O2's object; O1 (`membership=True`) adds how the caller belongs to it."""
    body = {
        "id": org.id,
        "name": org.name,
        "slug": ORG_NAME,
        "customerId": None,
        "createdAt": iso(org.created_at),
        "updatedAt": iso(org.created_at),
        "authEnforced": False,
        "scimEnabled": False,
        "kmsDefaultKeyId": None,
        "enforceMfa": False,
    }
    if membership:
        body.update(orgAuthMethod="admin-token", userRole="admin", userJoinedAt=iso(org.created_at))
    return body
