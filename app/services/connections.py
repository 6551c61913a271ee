"""App connections: a provider management key, validated upstream, encrypted at rest, never returned.

Writes are added and flushed in the request's session, which commits when the handler returns. The provider
is asked before anything is written, and a duplicate name that slips past the check (a concurrent create)
surfaces at the flush as Infisical's 400; raising it rolls the whole request back."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app import catalogue
from app.auth.principal import Principal
from app.catalogue import METHOD_NAMES, ConnectionApp
from app.errors import BadRequest, NotFound, Unauthorized
from app.models import AppConnection, RotationCredential, SecretRotation
from app.models.base import new_id
from app.models.credential import OPEN_STATES
from app.providers.base import ProviderError
from app.schemas.connections import ConnectionCreateBase, ConnectionUpdateBase
from app.schemas.paging import LIST_CAP
from app.services.credential_change import hand_over_live_keys
from app.store import audit
from app.store.credentials import seal_credentials
from app.timeutil import utcnow

log = logging.getLogger("keyturn.connections")

INVALID_KEY = "Unable to validate connection: invalid API key or insufficient permissions"
IN_USE = "Cannot delete App Connection with existing connections. Remove all existing connections and try again."


def get_connection(session: Session, connection_id: str) -> AppConnection:
    connection = session.get(AppConnection, connection_id)
    if connection is None:
        raise NotFound(f"Could not find App Connection with ID {connection_id}")
    return connection


def get_app_connection(session: Session, app: ConnectionApp, connection_id: str) -> AppConnection:
    """C5/C8/C9: the connection, which must belong to the app in the URL."""
    connection = get_connection(session, connection_id)
    if connection.app != app.slug:
        raise BadRequest(f'App Connection with ID "{connection_id}" is not for App "{app.slug}"')
    return connection


def get_by_name(session: Session, app: ConnectionApp, name: str, *, project_id: str | None) -> AppConnection:
    """C6: by name in the project, or among organisation-scoped connections when no project is given."""
    scope = "project" if project_id else "organization"
    missing = NotFound(f"Could not find App Connection with name {name} in {scope} scope.")
    if "\x00" in name or "\x00" in (project_id or ""):  # no stored name or id holds NUL (PostgreSQL refuses it)
        raise missing
    query = select(AppConnection).where(AppConnection.name == name)
    query = (
        query.where(AppConnection.project_id == project_id)
        if project_id
        else query.where(col(AppConnection.project_id).is_(None))
    )
    connection = session.exec(query).first()
    if connection is None:
        raise missing
    if connection.app != app.slug:
        raise BadRequest(f'App Connection with name {name} is not for App "{app.slug}"')
    return connection


def _first_by_name(session: Session, query: SelectOfScalar[AppConnection]) -> list[AppConnection]:
    """The first LIST_CAP connections by name, case-insensitively. C2–C4 have no paging in Infisical; the cap
    is in the query, so no request loads every row. The page is sorted again by Python's own case folding,
    which the databases' lower() and collations do not all share (the answer's order is unchanged)."""
    query = query.order_by(func.lower(AppConnection.name), col(AppConnection.name), col(AppConnection.id))
    return sorted(session.exec(query.limit(LIST_CAP)).all(), key=lambda c: (c.name.lower(), c.name))


def list_connections(
    session: Session, *, app: ConnectionApp | None, project_id: str | None, only: Collection[str] | None
) -> list[AppConnection]:
    """With a project: its connections; without: every connection. Only those in the projects `only` names,
    when given (None: no such restriction), so an identity's connections are not cut off by others."""
    query = select(AppConnection)
    if app is not None:
        query = query.where(AppConnection.app == app.slug)
    if project_id is not None:
        query = query.where(AppConnection.project_id == project_id)
    if only is not None:
        query = query.where(col(AppConnection.project_id).in_(only))
    return _first_by_name(session, query)


def list_connectable(session: Session, *, app: ConnectionApp, project_id: str | None) -> list[AppConnection]:
    """C4's candidates: the project's connections plus the organisation-scoped ones."""
    query = select(AppConnection).where(AppConnection.app == app.slug)
    if project_id is not None:
        query = query.where(or_(col(AppConnection.project_id) == project_id, col(AppConnection.project_id).is_(None)))
    else:
        query = query.where(col(AppConnection.project_id).is_(None))
    return _first_by_name(session, query)


def validate_with_provider(app: ConnectionApp, credentials: dict[str, Any]) -> None:
    """Ask the provider whether the management key works; any failure is Infisical's 401."""
    try:
        wire = catalogue.wire(app.slug)
        if wire is None:
            raise ProviderError(f"no wire client for app {app.slug}")
        wire.validate_connection(credentials)
    except ProviderError as exc:
        log.info("connection validation failed for app %s: status=%s", app.slug, exc.status)
        raise Unauthorized(INVALID_KEY) from None
    except Exception as exc:  # noqa: BLE001 - a provider bug must still answer 401, not 500
        log.warning("connection validation raised %s for app %s", type(exc).__name__, app.slug)
        raise Unauthorized(INVALID_KEY) from None


def _duplicate_name(name: str) -> BadRequest:
    return BadRequest(f'An App Connection with the name "{name}" already exists')


def _name_taken(session: Session, name: str, *, other_than: str | None = None) -> bool:
    query = select(AppConnection.id).where(AppConnection.name == name)
    if other_than is not None:
        query = query.where(AppConnection.id != other_than)
    return session.exec(query).first() is not None


def _audit(session: Session, actor: Principal | str, event: str, connection: AppConnection, **extra) -> None:
    """One audit row in the change's own transaction, after the change is flushed (its insert would flush the
    change first, and a refusal must surface in `_flush`); never the credentials."""
    audit.record(
        session,
        actor=actor,
        event=event,
        project_id=connection.project_id,
        resource_type="app-connection",
        resource_id=connection.id,
        metadata={"app": connection.app, "name": connection.name, **extra},
    )


def create_connection(
    session: Session, app: ConnectionApp, *, body: ConnectionCreateBase, actor: Principal | str
) -> AppConnection:
    """The caller has checked the project and the permission."""
    if _name_taken(session, body.name):
        raise _duplicate_name(body.name)
    credentials = {"apiKey": body.credentials.apiKey}
    validate_with_provider(app, credentials)
    now = utcnow()
    connection = AppConnection(
        id=new_id(),
        name=body.name,
        description=body.description,
        project_id=body.projectId,
        app=app.slug,
        method=body.method,  # type: ignore[attr-defined]  # each app's body class declares it (create_schema)
        encrypted_credentials="",
        credentials_hash="",
        created_at=now,
        updated_at=now,
    )
    seal_credentials(connection, credentials)
    session.add(connection)
    _flush(session, _duplicate_name(body.name))
    _audit(session, actor, "create-app-connection", connection, method=connection.method)
    log.info("created %s connection %s", app.slug, connection.id)
    return connection


def update_connection(
    session: Session,
    app: ConnectionApp,
    connection: AppConnection,
    *,
    body: ConnectionUpdateBase,
    actor: Principal | str,
) -> AppConnection:
    """Check everything (names, credential shape, the provider) before changing the row."""
    fields = body.model_fields_set
    new_name = body.name if "name" in fields and body.name is not None else connection.name
    if new_name != connection.name and _name_taken(session, new_name, other_than=connection.id):
        raise _duplicate_name(new_name)
    credentials = None
    if "credentials" in fields and body.credentials is not None:
        credentials = _credentials_shape(app, connection.method, body.credentials)
        validate_with_provider(app, credentials)
        hand_over_live_keys(session, connection, credentials)  # the new key must see the keys the old one minted
    connection.name = new_name
    if "description" in fields:
        connection.description = body.description
    if credentials is not None:
        seal_credentials(connection, credentials)
    connection.version += 1
    connection.updated_at = utcnow()
    session.add(connection)
    changed = sorted(f for f in ("name", "description", "credentials") if f in fields)
    _flush(session, _duplicate_name(new_name))
    _audit(session, actor, "update-app-connection", connection, changedFields=changed, version=connection.version)
    log.info("updated %s connection %s (version %s)", app.slug, connection.id, connection.version)
    return connection


def _credentials_shape(app: ConnectionApp, method: str, credentials: Any) -> dict[str, Any]:
    key = credentials.get("apiKey") if isinstance(credentials, dict) else None
    if not isinstance(key, str) or not key.strip():
        method_name = METHOD_NAMES.get(method, method)
        raise BadRequest(f"Invalid credential format for {app.name} Connection with method {method_name}")
    return {"apiKey": key.strip()}


def is_in_use(session: Session, connection_id: str) -> bool:
    """A rotation references it, or a key minted with it still needs work at the provider."""
    if session.exec(select(SecretRotation.id).where(SecretRotation.connection_id == connection_id)).first():
        return True
    open_rows = session.exec(
        select(func.count())
        .select_from(RotationCredential)
        .where(
            RotationCredential.connection_id == connection_id,
            col(RotationCredential.state).in_(OPEN_STATES),
        )
    ).one()
    return open_rows > 0


def delete_connection(session: Session, connection: AppConnection, *, actor: Principal | str) -> AppConnection:
    if is_in_use(session, connection.id):
        raise BadRequest(IN_USE)
    # Closed history rows (revoked, abandoned) of deleted rotations would pin the row through their key.
    session.execute(
        delete(RotationCredential).where(
            col(RotationCredential.connection_id) == connection.id,
            col(RotationCredential.state).not_in(OPEN_STATES),
        )
    )
    session.delete(connection)
    _flush(session, BadRequest(IN_USE))
    _audit(session, actor, "delete-app-connection", connection)
    log.info("deleted %s connection %s", connection.app, connection.id)
    return connection


def _flush(session: Session, error: BadRequest) -> None:
    """Write now, so a unique or foreign-key refusal becomes `error`; the request's rollback undoes the rest."""
    try:
        session.flush()
    except IntegrityError:
        raise error from None
