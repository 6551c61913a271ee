"""Project role grants for identities, with the `scope` extension (identity §7)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func
from sqlmodel import Session, col, select

from app import clock
from app.auth import tokens
from app.auth.principal import Principal
from app.errors import BadRequest, NotFound, ValidationFailure
from app.models import Identity, IdentityMembership, Project
from app.models.base import new_id
from app.schemas.identities import MembershipCreate, MembershipUpdate
from app.services.constraints import violation_as
from app.services.identities import get_identity
from app.services.projects import get_project
from app.store import audit

NOT_FOUND = "Identity membership not found"


def _roles(slugs: list[str]) -> list[dict]:
    return [{"id": new_id(), "role": slug} for slug in slugs]


def get_membership(session: Session, project_id: str, identity_id: str) -> IdentityMembership:
    get_project(session, project_id)
    get_identity(session, identity_id)
    membership = session.exec(
        select(IdentityMembership).where(
            IdentityMembership.project_id == project_id, IdentityMembership.identity_id == identity_id
        )
    ).first()
    if membership is None:
        raise NotFound(NOT_FOUND)
    return membership


def grant(
    session: Session, *, actor: Principal, project_id: str, identity_id: str, body: MembershipCreate
) -> IdentityMembership:
    get_project(session, project_id)
    get_identity(session, identity_id)
    exists = session.exec(
        select(IdentityMembership.id).where(
            IdentityMembership.project_id == project_id, IdentityMembership.identity_id == identity_id
        )
    ).first()
    if exists:
        raise BadRequest("Identity is already a member")
    now = clock.now()
    membership = IdentityMembership(
        project_id=project_id,
        identity_id=identity_id,
        roles=_roles(body.role_slugs()),
        scope=body.scope.stored() if body.scope else None,
        created_at=now,
        updated_at=now,
    )
    with violation_as(session, BadRequest("Identity is already a member")):
        session.add(membership)
    audit.record(
        session,
        actor=actor,
        event="create-identity-project-membership",
        project_id=project_id,
        resource_type="identity",
        resource_id=identity_id,
        metadata={"roles": body.role_slugs(), "scope": membership.scope},
    )
    tokens.invalidate_on_commit(session, identity_id=identity_id)  # for a cache of grants, if one is added
    return membership


def _holds_any_role(session: Session, roles: list[str]) -> ColumnElement[bool]:
    """In SQL: the membership's JSON `roles` array ([{id, role}]) has an entry whose `role` is one of these."""
    role: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        entries = func.json_array_elements(IdentityMembership.roles).table_valued("value")
        role = entries.c.value.op("->>")("role")
    else:
        entries = func.json_each(IdentityMembership.roles).table_valued("value")
        role = func.json_extract(entries.c.value, "$.role")
    return exists().select_from(entries).where(role.in_(roles))


def list_memberships(
    session: Session, *, project_id: str, offset: int, limit: int, identity_name: str | None, roles: list[str] | None
) -> tuple[list[tuple[IdentityMembership, Identity]], int]:
    """One page ordered by identity name, and the count of every match; filters, order and page are SQL."""
    get_project(session, project_id)
    query = (
        select(IdentityMembership, Identity)
        .join(Identity, col(Identity.id) == IdentityMembership.identity_id)
        .where(IdentityMembership.project_id == project_id)
    )
    if identity_name:
        query = query.where(func.lower(Identity.name).contains(identity_name.lower(), autoescape=True))
    if roles:
        query = query.where(_holds_any_role(session, roles))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = query.order_by(col(Identity.name), col(IdentityMembership.created_at), col(IdentityMembership.id))
    rows = session.exec(page.offset(offset).limit(limit)).all()
    return [(membership, identity) for membership, identity in rows], total


def memberships_of(session: Session, identity_id: str) -> list[tuple[IdentityMembership, Project]]:
    """The identity's memberships in every project, by project name (the console's page of one identity)."""
    get_identity(session, identity_id)
    rows = session.exec(
        select(IdentityMembership, Project)
        .join(Project, col(Project.id) == IdentityMembership.project_id)
        .where(IdentityMembership.identity_id == identity_id)
        .order_by(col(Project.name), col(Project.id))
    ).all()
    return [(membership, project) for membership, project in rows]


def update(
    session: Session, *, actor: Principal, project_id: str, identity_id: str, body: MembershipUpdate
) -> IdentityMembership:
    fields = body.model_fields_set & {"roles", "scope"}
    if not fields or ("roles" in fields and body.roles is None and "scope" not in fields):
        raise ValidationFailure.one([], "Either roles or scope is required")
    membership = get_membership(session, project_id, identity_id)
    slugs = body.role_slugs()
    if slugs is not None:
        membership.roles = _roles(slugs)
    if "scope" in fields:
        membership.scope = body.scope.stored() if body.scope else None
    membership.updated_at = clock.now()
    session.add(membership)
    audit.record(
        session,
        actor=actor,
        event="update-identity-project-membership",
        project_id=project_id,
        resource_type="identity",
        resource_id=identity_id,
        metadata={"roles": [entry["role"] for entry in membership.roles], "scope": membership.scope},
    )
    tokens.invalidate_on_commit(session, identity_id=identity_id)
    return membership


def remove(session: Session, *, actor: Principal, project_id: str, identity_id: str) -> IdentityMembership:
    membership = get_membership(session, project_id, identity_id)
    session.delete(membership)
    audit.record(
        session,
        actor=actor,
        event="delete-identity-project-membership",
        project_id=project_id,
        resource_type="identity",
        resource_id=identity_id,
    )
    tokens.invalidate_on_commit(session, identity_id=identity_id)
    return membership
