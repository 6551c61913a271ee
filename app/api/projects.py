"""P1–P6 and E1: projects and environments (identity §4). Structure is admin-only; P3/P4 are readable, and so
are the look-ups by slug that the agent, the operator and External Secrets call (clients §6)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query

from app.api.deps import CurrentPrincipal, SessionDep
from app.api.visibility import projects_allowing
from app.auth.permissions import require, require_admin
from app.schemas.fields import slug_rule
from app.schemas.projects import (
    EnvironmentCreate,
    EnvironmentCreated,
    ProjectCreate,
    ProjectEnvelope,
    ProjectList,
    ProjectPublic,
    ProjectUpdate,
    ProjectWithEnvironments,
    WorkspaceProject,
    environment_public,
    project_public,
    project_with_environments,
)
from app.services import organization
from app.services import projects as service

router = APIRouter(tags=["projects"])

ProjectSlug = Annotated[str, Path(description="The project's slug."), slug_rule("Slug", max_len=64)]


def _create(session, principal, body: ProjectCreate) -> ProjectWithEnvironments:
    require_admin(principal, "create", "project")
    org_id = organization.org_id(session)
    project, environments = service.create_project(session, body=body)
    return project_with_environments(project, org_id, environments)


@router.post("/api/v1/projects", operation_id="createProject")
def create_project(
    body: ProjectCreate, session: SessionDep, principal: CurrentPrincipal
) -> ProjectEnvelope[ProjectWithEnvironments]:
    return ProjectEnvelope[ProjectWithEnvironments](project=_create(session, principal, body))


@router.post("/api/v2/workspace", operation_id="createWorkspaceLegacy")
def create_workspace(
    body: ProjectCreate, session: SessionDep, principal: CurrentPrincipal
) -> ProjectEnvelope[WorkspaceProject]:
    project = _create(session, principal, body)  # the same body, plus P2's constant
    return ProjectEnvelope[WorkspaceProject](project=WorkspaceProject(**project.model_dump(by_alias=True)))


@router.get("/api/v1/projects", operation_id="listProjects")
def list_projects(
    session: SessionDep,
    principal: CurrentPrincipal,
    type: str | None = Query(default=None),  # noqa: A002 - Infisical's query parameter is named `type`
    includeRoles: Literal["true", "false"] | None = Query(default=None),  # accepted and ignored
) -> ProjectList:
    org_id = organization.org_id(session)
    readable = projects_allowing(principal, "read", "project")
    rows = service.list_projects(session, type_filter=type, only=readable)
    return ProjectList(projects=[project_with_environments(project, org_id, envs) for project, envs in rows])


@router.get("/api/v1/projects/{projectId}", operation_id="getProject")
def get_project(
    projectId: str, session: SessionDep, principal: CurrentPrincipal
) -> ProjectEnvelope[ProjectWithEnvironments]:
    org_id = organization.org_id(session)
    project = service.get_project(session, projectId)
    require(principal, "read", "project", project_id=project.id)
    environments = service.environments_of(session, project.id)
    return ProjectEnvelope[ProjectWithEnvironments](project=project_with_environments(project, org_id, environments))


def _by_slug(session, principal, slug: str) -> ProjectWithEnvironments:
    project = service.get_visible_project_by_slug(session, principal, slug)
    environments = service.environments_of(session, project.id)
    return project_with_environments(project, organization.org_id(session), environments)


@router.get("/api/v1/projects/slug/{slug}", operation_id="getProjectBySlug")
def get_project_by_slug(slug: ProjectSlug, session: SessionDep, principal: CurrentPrincipal) -> ProjectWithEnvironments:
    """The project, unwrapped (the CLI agent's `listSecretsByProjectSlug`, the operator, External Secrets)."""
    return _by_slug(session, principal, slug)


@router.get("/api/v1/workspace/slug/{slug}", operation_id="getWorkspaceBySlugLegacy")
def get_workspace_by_slug(
    slug: ProjectSlug, session: SessionDep, principal: CurrentPrincipal
) -> ProjectWithEnvironments:
    """The same as getProjectBySlug (External Secrets tries it after a 404 there)."""
    return _by_slug(session, principal, slug)


@router.get("/api/v2/workspace/{slug}", operation_id="getWorkspaceBySlugV2")
def get_workspace_v2(slug: ProjectSlug, session: SessionDep, principal: CurrentPrincipal) -> WorkspaceProject:
    """The project, unwrapped, with the v2 route's constant (the operator's `InfisicalSecret` by `projectSlug`)."""
    return WorkspaceProject(**_by_slug(session, principal, slug).model_dump(by_alias=True))


@router.patch("/api/v1/projects/{projectId}", operation_id="updateProject")
def update_project(
    projectId: str, session: SessionDep, principal: CurrentPrincipal, body: ProjectUpdate | None = Body(default=None)
) -> ProjectEnvelope[ProjectPublic]:
    require_admin(principal, "edit", "project")
    org_id = organization.org_id(session)
    project = service.get_project(session, projectId)
    project = service.update_project(session, project, body=body or ProjectUpdate())
    return ProjectEnvelope[ProjectPublic](project=project_public(project, org_id))


@router.delete("/api/v1/projects/{projectId}", operation_id="deleteProject")
def delete_project(projectId: str, session: SessionDep, principal: CurrentPrincipal) -> ProjectEnvelope[ProjectPublic]:
    require_admin(principal, "delete", "project")
    org_id = organization.org_id(session)
    project = service.delete_project(session, service.get_project(session, projectId))
    return ProjectEnvelope[ProjectPublic](project=project_public(project, org_id))


@router.post("/api/v1/projects/{projectId}/environments", operation_id="createEnvironment")
def create_environment(
    projectId: str, body: EnvironmentCreate, session: SessionDep, principal: CurrentPrincipal
) -> EnvironmentCreated:
    require_admin(principal, "create", "environments")
    env = service.create_environment(session, projectId, body=body)
    return EnvironmentCreated(
        message="Successfully created new environment", projectId=env.project_id, environment=environment_public(env)
    )
