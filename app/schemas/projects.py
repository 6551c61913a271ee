"""Request bodies and response objects for projects and environments (identity spec §4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt

from app.models import Environment, Project
from app.schemas.fields import RequestBody, slug_rule, trimmed
from app.timeutil import iso


class ProjectCreate(RequestBody):
    projectName: Annotated[str, trimmed(1, 64)]
    projectDescription: Annotated[str, trimmed(0, 1024)] | None = None
    slug: Annotated[str, slug_rule("Slug", 5, 36)] | None = None
    type: Literal["secret-manager"] = "secret-manager"
    shouldCreateDefaultEnvs: StrictBool = True
    hasDeleteProtection: StrictBool = False
    template: str | None = None
    kmsKeyId: str | None = None


class ProjectUpdate(RequestBody):
    name: Annotated[str, trimmed(1, 64)] | None = None
    description: Annotated[str, trimmed(0, 1024)] | None = None
    slug: Annotated[str, slug_rule("Slug", 5, 36)] | None = None
    hasDeleteProtection: StrictBool | None = None


class EnvironmentCreate(RequestBody):
    name: Annotated[str, trimmed(1, 64)]
    slug: Annotated[str, slug_rule("Slug", 1, 64)]
    position: Annotated[StrictInt, Field(ge=1)] | None = None


def project_public(project: Project, org_id: str, environments: list[Environment] | None = None) -> dict:
    """§4.1. With `environments` (create, list, get) the object also carries `_id` and the ordered list."""
    body: dict[str, Any] = {"id": project.id}
    if environments is not None:
        body["_id"] = project.id
    body.update(
        {
            "name": project.name,
            "description": project.description,
            "type": "secret-manager",
            "defaultProduct": None,
            "slug": project.slug,
            "autoCapitalization": False,
            "orgId": org_id,
            "createdAt": iso(project.created_at),
            "updatedAt": iso(project.updated_at),
            "version": 3,
            "upgradeStatus": None,
            "pitVersionLimit": 10,
            "kmsCertificateKeyId": None,
            "auditLogsRetentionDays": None,
            "hasDeleteProtection": project.has_delete_protection,
            "secretSharing": True,
            "showSnapshotsLegacy": False,
            "secretDetectionIgnoreValues": None,
        }
    )
    if environments is not None:
        ordered = sorted(environments, key=lambda env: env.position)
        body["environments"] = [{"name": env.name, "slug": env.slug, "id": env.id} for env in ordered]
    return body


def environment_public(env: Environment) -> dict:
    return {
        "id": env.id,
        "name": env.name,
        "slug": env.slug,
        "position": env.position,
        "projectId": env.project_id,
        "createdAt": iso(env.created_at),
        "updatedAt": iso(env.updated_at),
    }
