"""Request bodies and response objects for projects and environments (identity §4)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import Field, StrictBool, StrictInt

from app.models import Environment, Project
from app.schemas.fields import RequestBody, ResponseBody, column_int, slug_rule, trimmed
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
    position: Annotated[StrictInt, column_int(minimum=1)] | None = None


class ProjectEnvironment(ResponseBody):
    name: str
    slug: str
    id: str


class EnvironmentPublic(ResponseBody):
    id: str
    name: str
    slug: str
    position: int
    projectId: str
    createdAt: str
    updatedAt: str


class _ProjectId(ResponseBody):
    id: str


class _ProjectIds(ResponseBody):
    id: str
    legacy_id: str = Field(alias="_id", description="repeats `id`")


class _ProjectFields(ResponseBody):
    """identity §4.1's fields after the id; the constants are kept for Infisical's shape."""

    name: str
    description: str | None
    type: Literal["secret-manager"] = "secret-manager"
    defaultProduct: None = None
    slug: str
    autoCapitalization: bool = False
    orgId: str
    createdAt: str
    updatedAt: str
    version: int = 3
    upgradeStatus: None = None
    pitVersionLimit: int = 10
    kmsCertificateKeyId: None = None
    auditLogsRetentionDays: None = None
    hasDeleteProtection: bool
    secretSharing: bool = True
    showSnapshotsLegacy: bool = False
    secretDetectionIgnoreValues: None = None


# The bases are listed last-first: pydantic orders fields from the last base to the first, so `id` (and `_id`)
# lead, as in Infisical's bodies.
class ProjectPublic(_ProjectFields, _ProjectId):
    """P5 and P6: without `_id` and `environments`."""


class ProjectWithEnvironments(_ProjectFields, _ProjectIds):
    """P1, P3 and P4: with `_id` and the environments ordered by position."""

    environments: list[ProjectEnvironment]


class WorkspaceProject(ProjectWithEnvironments):
    """P2 (the legacy v2 route) adds one constant, as Infisical's does."""

    kmsSecretManagerKeyId: None = None


ProjectT = TypeVar("ProjectT", bound=ResponseBody)


class ProjectEnvelope(ResponseBody, Generic[ProjectT]):
    project: ProjectT


class ProjectList(ResponseBody):
    projects: list[ProjectWithEnvironments]


class EnvironmentCreated(ResponseBody):
    message: str
    projectId: str
    environment: EnvironmentPublic


def _project_fields(project: Project, org_id: str) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "slug": project.slug,
        "orgId": org_id,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
        "hasDeleteProtection": project.has_delete_protection,
    }


def project_public(project: Project, org_id: str) -> ProjectPublic:
    return ProjectPublic(**_project_fields(project, org_id))


def project_with_environments(
    project: Project, org_id: str, environments: list[Environment]
) -> ProjectWithEnvironments:
    ordered = sorted(environments, key=lambda env: env.position)
    return ProjectWithEnvironments(
        **_project_fields(project, org_id),
        _id=project.id,
        environments=[ProjectEnvironment(name=env.name, slug=env.slug, id=env.id) for env in ordered],
    )


def environment_public(env: Environment) -> EnvironmentPublic:
    return EnvironmentPublic(
        id=env.id,
        name=env.name,
        slug=env.slug,
        position=env.position,
        projectId=env.project_id,
        createdAt=iso(env.created_at),
        updatedAt=iso(env.updated_at),
    )
