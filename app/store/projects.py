"""Finding a project by its slug, as the reads and the slug look-ups both do (clients §5.1, clients §6)."""

from __future__ import annotations

from sqlmodel import Session, select

from app.errors import NotFound
from app.models import Project


def slug_not_found(slug: str) -> NotFound:
    return NotFound(f"No project found with slug {slug}")


def by_slug(session: Session, slug: str) -> Project:
    """The project with this slug (there is one organisation, so the slug is unique), or a 404."""
    project = session.exec(select(Project).where(Project.slug == slug)).first()
    if project is None:
        raise slug_not_found(slug)
    return project
