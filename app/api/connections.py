"""C1–C9: app connections (rotation §2.2, rotation §4). One router per connection app of app.catalogue, so a
new provider needs only its catalogue entry.

No `from __future__ import annotations` here: the per-app body types are local to `app_router`, and
FastAPI must see them as real objects, not strings.
"""

import uuid

from fastapi import APIRouter, Body, Query

from app import catalogue
from app.api.deps import CurrentPrincipal, SessionDep
from app.api.visibility import projects_allowing
from app.auth.permissions import can, require
from app.auth.principal import Principal
from app.catalogue import ConnectionApp
from app.models import AppConnection
from app.schemas.connections import (
    AvailableConnection,
    ConnectionEnvelope,
    ConnectionList,
    ConnectionOptions,
    ConnectionPublic,
    app_option,
    available_public,
    connection_public,
    create_schema,
    update_schema,
)
from app.services import connections as service
from app.services import organization
from app.services.projects import get_project

SUBJECT = "app-connections"
PREFIX = "/api/v1/app-connections"


def require_on(principal: Principal, action: str, connection: AppConnection) -> None:
    """Project-scoped connections follow the project's roles; organisation-scoped ones (no project) are
    management plane, which the permission module answers with its admin-only refusal."""
    require(principal, action, SUBJECT, project_id=connection.project_id, connectionId=connection.id)


def may(principal: Principal, action: str, connection: AppConnection, *, project_id: str | None = None) -> bool:
    """For lists: filter instead of refusing. A project admin may `connect` an organisation-scoped
    connection for its own project (identity §10, decided), so `project_id` stands in for it."""
    scope = connection.project_id
    if scope is None and action == "connect":
        scope = project_id
    return can(principal, action, SUBJECT, project_id=scope, connectionId=connection.id)


def readable_connections(session, principal, *, app, project_id):
    if project_id is not None:
        get_project(session, project_id)  # 404 for an unknown project
    only = projects_allowing(principal, "read", SUBJECT)
    rows = service.list_connections(session, app=app, project_id=project_id, only=only)
    return [c for c in rows if may(principal, "read", c)]


def app_router(app: ConnectionApp) -> APIRouter:
    """C3–C9 for one app, under /api/v1/app-connections/{app.slug}."""
    router = APIRouter(prefix=f"{PREFIX}/{app.slug}", tags=["app-connections"])
    name = app.name.replace(" ", "")
    CreateBody = create_schema(app.name, app.methods)
    UpdateBody = update_schema(app.name)

    @router.get("", operation_id=f"list{name}Connections")
    def list_connections(
        session: SessionDep, principal: CurrentPrincipal, projectId: str | None = Query(None)
    ) -> ConnectionList[ConnectionPublic]:
        org_id = organization.org_id(session)
        items = readable_connections(session, principal, app=app, project_id=projectId)
        return ConnectionList[ConnectionPublic](appConnections=[connection_public(c, org_id) for c in items])

    @router.get("/available", operation_id=f"listAvailable{name}Connections")
    def list_available(
        session: SessionDep, principal: CurrentPrincipal, projectId: str | None = Query(None)
    ) -> ConnectionList[AvailableConnection]:
        org_id = organization.org_id(session)
        if projectId is not None:
            get_project(session, projectId)
        items = [
            c
            for c in service.list_connectable(session, app=app, project_id=projectId)
            if may(principal, "connect", c, project_id=projectId)
        ]
        return ConnectionList[AvailableConnection](appConnections=[available_public(c, org_id) for c in items])

    @router.get("/connection-name/{connectionName}", operation_id=f"get{name}ConnectionByName")
    def get_by_name(
        connectionName: str, session: SessionDep, principal: CurrentPrincipal, projectId: str | None = Query(None)
    ) -> ConnectionEnvelope:
        org_id = organization.org_id(session)
        connection = service.get_by_name(session, app, connectionName, project_id=projectId)
        require_on(principal, "read", connection)
        return ConnectionEnvelope(appConnection=connection_public(connection, org_id))

    @router.get("/{connectionId}", operation_id=f"get{name}Connection")
    def get_connection(connectionId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> ConnectionEnvelope:
        org_id = organization.org_id(session)
        connection = service.get_app_connection(session, app, str(connectionId))
        require_on(principal, "read", connection)
        return ConnectionEnvelope(appConnection=connection_public(connection, org_id))

    @router.post("", operation_id=f"create{name}Connection")
    def create_connection(
        body: CreateBody,  # type: ignore[valid-type]  # a class built per app at run time, which FastAPI reads
        session: SessionDep,
        principal: CurrentPrincipal,
    ) -> ConnectionEnvelope:
        org_id = organization.org_id(session)
        project_id = body.projectId  # type: ignore[attr-defined]  # CreateBody subclasses ConnectionCreateBase
        project_id = get_project(session, project_id).id if project_id is not None else None
        require(principal, "create", SUBJECT, project_id=project_id)
        connection = service.create_connection(session, app, body=body, actor=principal)
        return ConnectionEnvelope(appConnection=connection_public(connection, org_id))

    @router.patch("/{connectionId}", operation_id=f"update{name}Connection")
    def update_connection(
        connectionId: uuid.UUID,
        session: SessionDep,
        principal: CurrentPrincipal,
        body: UpdateBody | None = Body(None),  # type: ignore[valid-type]  # as CreateBody
    ) -> ConnectionEnvelope:
        org_id = organization.org_id(session)
        connection = service.get_app_connection(session, app, str(connectionId))
        require_on(principal, "edit", connection)
        connection = service.update_connection(session, app, connection, body=body or UpdateBody(), actor=principal)
        return ConnectionEnvelope(appConnection=connection_public(connection, org_id))

    @router.delete("/{connectionId}", operation_id=f"delete{name}Connection")
    def delete_connection(
        connectionId: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
    ) -> ConnectionEnvelope:
        org_id = organization.org_id(session)
        connection = service.get_app_connection(session, app, str(connectionId))
        require_on(principal, "delete", connection)
        connection = service.delete_connection(session, connection, actor=principal)
        return ConnectionEnvelope(appConnection=connection_public(connection, org_id))

    return router


router = APIRouter(tags=["app-connections"])


@router.get(f"{PREFIX}/options", operation_id="listAppConnectionOptions")
def list_options(principal: CurrentPrincipal) -> ConnectionOptions:
    options = [app_option(a.name, a.slug, a.methods) for a in catalogue.apps()]
    return ConnectionOptions(appConnectionOptions=sorted(options, key=lambda o: o.name))


@router.get(PREFIX, operation_id="listAppConnections")
def list_all(
    session: SessionDep, principal: CurrentPrincipal, projectId: str | None = Query(None)
) -> ConnectionList[ConnectionPublic]:
    org_id = organization.org_id(session)
    items = readable_connections(session, principal, app=None, project_id=projectId)
    return ConnectionList[ConnectionPublic](appConnections=[connection_public(c, org_id) for c in items])


for _app in catalogue.apps():
    router.include_router(app_router(_app))
