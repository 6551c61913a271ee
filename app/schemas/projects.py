"""Request bodies and response objects for projects and environments (identity spec §4)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic_core import PydanticCustomError

from app.models import Environment, Project
from app.schemas.fields import slug_rule
from app.timeutil import iso


def trimmed(min_len: int, max_len: int):
    """Trim, then check the length with Infisical-style messages and codes."""

    def check(value: str) -> str:
        value = value.strip()
        if "\x00" in value:  # PostgreSQL text cannot store NUL
            raise PydanticCustomError("invalid_string", "String must not contain NUL characters")
        if len(value) < min_len:
            raise PydanticCustomError("too_small", "String must contain at least {n} character(s)", {"n": min_len})
        if len(value) > max_len:
            raise PydanticCustomError("too_big", "String must contain at most {n} character(s)", {"n": max_len})
        return value

    return AfterValidator(check)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown keys are dropped, never rejected


class ProjectCreate(_Body):
    projectName: Annotated[str, trimmed(1, 64)]
    projectDescription: Annotated[str, trimmed(0, 1024)] | None = None
    slug: Annotated[str, slug_rule("Slug", 5, 36)] | None = None
    type: Literal["secret-manager"] = "secret-manager"
    shouldCreateDefaultEnvs: StrictBool = True
    hasDeleteProtection: StrictBool = False
    template: str | None = None
    kmsKeyId: str | None = None


class ProjectUpdate(_Body):
    name: Annotated[str, trimmed(1, 64)] | None = None
    description: Annotated[str, trimmed(0, 1024)] | None = None
    slug: Annotated[str, slug_rule("Slug", 5, 36)] | None = None
    hasDeleteProtection: StrictBool | None = None


class EnvironmentCreate(_Body):
    name: Annotated[str, trimmed(1, 64)]
    slug: Annotated[str, slug_rule("Slug", 1, 64)]
    position: Annotated[StrictInt, Field(ge=1)] | None = None


def project_public(project: Project, org_id: str, environments: list[Environment] | None = None) -> dict:
    """§4.1. With `environments` (create, list, get) the object also carries `_id` and the ordered list."""
    body = {"id": project.id}
    if environments is not None:
        body["_id"] = project.id
    body.update({
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
    })
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
