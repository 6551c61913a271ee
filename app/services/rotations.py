"""Secret rotations: look-ups, permission checks and the create/update/delete flows (rotation §5, rotation §9,
rotation §11).

Minting and rotating belong to app.rotation.engine, updating and deleting under the lease to
app.rotation.changes; this module decides whether a request may proceed, checks everything that can be
checked locally first, and hands the rest to them. They work in transactions of their own, so the
request session only reads before the call, and answers are built from the rows they return (never
re-read through the request session, whose copies predate the change).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.auth.permissions import can, require
from app.auth.principal import Principal
from app.catalogue import RotationType, app_name, rotation_type
from app.config import get_settings
from app.errors import BadRequest, NotFound
from app.models import AppConnection, Environment, SecretRotation
from app.models.base import new_id
from app.rotation import audit_events, changes, emergency, engine, publish, schedule
from app.schemas.paging import LIST_CAP
from app.schemas.rotations import (
    GeneratedCredentials,
    HistoryEntry,
    RotationCreate,
    RotationPublic,
    RotationUpdate,
    stored_parameters,
)
from app.services import revocation_policy, rotation_views
from app.services.projects import get_project
from app.store import secrets as store
from app.timeutil import utcnow

SUBJECT = "secret-rotation"
# Another process moved one of the rotation's keys while the new one was being published (rotation §14g).
PUBLISH_CONFLICT = (
    "The rotation's keys changed while the new key was being published; nothing was published. Please try again."
)


# --- look-ups --------------------------------------------------------------------------------


def get_environment(session: Session, project_id: str, slug: str) -> Environment:
    environment = session.exec(
        select(Environment).where(Environment.project_id == project_id, Environment.slug == slug)
    ).first()
    if environment is None:
        raise NotFound(f"Environment with slug '{slug}' in project with ID '{project_id}' not found")
    return environment


def get_rotation(session: Session, rtype: RotationType, rotation_id: str) -> SecretRotation:
    """The shared by-id checks (rotation §5): 404 if missing, 400 if it is another type than the URL's."""
    rotation = session.get(SecretRotation, rotation_id)
    if rotation is None:
        raise NotFound(f'Could not find {rtype.name} Rotation with ID "{rotation_id}"')
    if rotation.type != rtype.slug:
        raise BadRequest(f'Secret Rotation with ID "{rotation_id}" is not configured for {rtype.name}')
    return rotation


def _conditions(session: Session, rotation: SecretRotation) -> dict:
    environment = session.get_one(Environment, rotation.environment_id)
    return {"environment": environment.slug, "secretPath": rotation.secret_path, "connectionId": rotation.connection_id}


def authorize(session: Session, principal: Principal, action: str, rotation: SecretRotation) -> None:
    require(principal, action, SUBJECT, project_id=rotation.project_id, **_conditions(session, rotation))


def get_authorized(
    session: Session, principal: Principal, rtype: RotationType, rotation_id: str, action: str
) -> SecretRotation:
    rotation = get_rotation(session, rtype, rotation_id)
    authorize(session, principal, action, rotation)
    return rotation


# --- reads -----------------------------------------------------------------------------------


def list_rotations(
    session: Session, principal: Principal, project_id: str, rtype: RotationType | None = None
) -> list[RotationPublic]:
    """R2/R3: the project's rotations (of one type for R3) the caller may read; others are omitted.

    Infisical has no paging here; the query stops at the first LIST_CAP rotations by creation, so no request
    loads every row. A scoped membership's filter (environment, path globs) runs on that page, so in a project
    of more than LIST_CAP rotations it may see fewer than it could read."""
    get_project(session, project_id)
    query = select(SecretRotation).where(SecretRotation.project_id == project_id)
    if rtype is not None:
        query = query.where(SecretRotation.type == rtype.slug)
    order = (col(SecretRotation.created_at), col(SecretRotation.name), col(SecretRotation.id))
    rows = session.exec(query.order_by(*order).limit(LIST_CAP)).all()
    environments = {e.id: e.slug for e in session.exec(select(Environment).where(Environment.project_id == project_id))}
    readable = [
        row
        for row in rows
        if rotation_type(row.type) is not None
        and can(
            principal,
            "read",
            SUBJECT,
            project_id=project_id,
            environment=environments.get(row.environment_id),
            secretPath=row.secret_path,
            connectionId=row.connection_id,
        )
    ]
    return rotation_views.views(session, readable)


def read_rotation(session: Session, principal: Principal, rtype: RotationType, rotation_id: str) -> RotationPublic:
    return rotation_views.view(session, get_authorized(session, principal, rtype, rotation_id, "read"))


def read_by_name(
    session: Session,
    principal: Principal,
    rtype: RotationType,
    *,
    name: str,
    project_id: str,
    environment: str,
    secret_path: str,
) -> RotationPublic:
    """R5: the lookup key is (project, environment, normalised path, name) within the URL's type."""
    get_project(session, project_id)
    env = get_environment(session, project_id, environment)
    rotation = session.exec(
        select(SecretRotation).where(
            SecretRotation.environment_id == env.id,
            SecretRotation.secret_path == secret_path,
            SecretRotation.name == name,
            SecretRotation.type == rtype.slug,
        )
    ).first()
    if rotation is None:
        raise NotFound(f'Could not find {rtype.name} Rotation with name "{name}"')
    authorize(session, principal, "read", rotation)
    return rotation_views.view(session, rotation)


def generated_credentials(
    session: Session, principal: Principal, rtype: RotationType, rotation_id: str
) -> GeneratedCredentials:
    rotation = get_authorized(session, principal, rtype, rotation_id, "read-generated-credentials")
    credentials = rotation_views.generated_credentials(session, rotation, rtype)
    # The request's transaction commits before the keys are sent: a read that cannot be audited does not happen.
    audit_events.record(
        session,
        principal,
        "get-secret-rotation-generated-credentials",
        rotation,
        keyCount=len(credentials.generated_credentials),
        activeIndex=credentials.active_index,
    )
    return credentials


def credential_history(
    session: Session, principal: Principal, rtype: RotationType, rotation_id: str
) -> list[HistoryEntry]:
    rotation = get_authorized(session, principal, rtype, rotation_id, "read")
    return rotation_views.history(session, rotation)


# --- conflicts -------------------------------------------------------------------------------


def check_name_free(
    session: Session, environment_id: str, path: str, name: str, *, other_than: str | None = None
) -> None:
    query = select(SecretRotation.id).where(
        SecretRotation.environment_id == environment_id,
        SecretRotation.secret_path == path,
        SecretRotation.name == name,
    )
    if other_than is not None:
        query = query.where(SecretRotation.id != other_than)
    if session.exec(query).first() is not None:
        raise BadRequest(f'A Secret Rotation with the name "{name}" already exists at the secret path "{path}"')


def check_secrets_free(session: Session, environment_id: str, path: str, keys: list[str]) -> None:
    taken = [key for key in keys if store.find_secret_in(session, environment_id, path, key) is not None]
    if taken:
        raise BadRequest(f'The following secrets already exist at the path "{path}": {", ".join(taken)}')


def _check_connection(
    session: Session, principal: Principal, rtype: RotationType, connection_id: str, project_id: str
) -> AppConnection:
    """rotation §4.4, in order: exists (404), `connect` permission (403), right app (400), same project (400)."""
    connection = session.get(AppConnection, connection_id)
    if connection is None:
        raise NotFound(f'Could not find App Connection with ID "{connection_id}"')
    require(
        principal,
        "connect",
        "app-connections",
        project_id=connection.project_id or project_id,
        connectionId=connection.id,
    )
    if connection.app != rtype.app:
        raise BadRequest(
            f"{app_name(connection.app)} Connection with ID {connection.id} "
            f"cannot be used to connect to {rtype.app_name}"
        )
    if connection.project_id is not None and connection.project_id != project_id:
        raise BadRequest(
            f"App Connection with ID {connection.id} belongs to another project and cannot be "
            f"used in project with ID '{project_id}'"
        )
    return connection


# --- writes ----------------------------------------------------------------------------------


def _unit_seconds() -> int:
    return get_settings().interval_unit_seconds


def create_rotation(
    session: Session, principal: Principal, rtype: RotationType, body: RotationCreate
) -> RotationPublic:
    """R6 (rotation §5.5): everything local first, then the engine mints, verifies and saves in one transaction."""
    policy = revocation_policy.for_new_rotation(rtype, body.revocation, body.rotation_interval)  # a 422 comes first
    project = get_project(session, body.project_id)  # resolving the project (404) precedes permission
    require(
        principal,
        "create",
        SUBJECT,
        project_id=project.id,
        environment=body.environment,
        secretPath=body.secret_path,
        connectionId=body.connection_id,
    )
    environment = get_environment(session, project.id, body.environment)
    connection = _check_connection(session, principal, rtype, str(body.connection_id), project.id)
    path, secret_name = body.secret_path, body.secrets_mapping.api_key

    def recheck(tx: Session) -> None:
        check_name_free(tx, environment.id, path, body.name)
        check_secrets_free(tx, environment.id, path, [secret_name])

    recheck(session)
    now = utcnow()
    rotation = SecretRotation(
        id=new_id(),
        project_id=project.id,
        environment_id=environment.id,
        secret_path=path,
        name=body.name,
        description=body.description,
        type=rtype.slug,
        connection_id=connection.id,
        parameters=stored_parameters(body.parameters),
        secrets_mapping=body.secrets_mapping.model_dump(by_alias=True),
        is_auto_rotation_enabled=body.is_auto_rotation_enabled,
        rotation_interval=body.rotation_interval,
        rotate_at_hours=body.rotate_at_utc.hours,
        rotate_at_minutes=body.rotate_at_utc.minutes,
        active_index=0,
        rotation_status="success",
        last_rotation_attempted_at=now,
        last_rotated_at=now,
        is_last_rotation_manual=True,
        created_at=now,
        updated_at=now,
        **revocation_policy.columns(policy),
    )
    rotation.next_rotation_at = schedule.for_rotation(rotation, now=now, unit_seconds=_unit_seconds(), manual=True)
    saved = engine.create_rotation(rotation, secret_name=secret_name, recheck=recheck, actor=principal)
    return rotation_views.rotation_public(saved, environment, connection)


def update_rotation(
    session: Session, principal: Principal, rtype: RotationType, rotation_id: str, body: RotationUpdate
) -> RotationPublic:
    """R7 (rotation §5.6) under the rotation's lease: merge, rename the mapped secret if asked, recompute the
    schedule."""
    get_authorized(session, principal, rtype, rotation_id, "edit")
    given = body.model_fields_set

    def apply(tx: Session, rotation: SecretRotation) -> None:
        if "name" in given and body.name != rotation.name:
            check_name_free(tx, rotation.environment_id, rotation.secret_path, body.name, other_than=rotation.id)
            rotation.name = body.name
        if "secrets_mapping" in given:
            _rename_mapped_secret(tx, rotation, body.secrets_mapping.api_key)
        if "description" in given:
            rotation.description = body.description
        if "is_auto_rotation_enabled" in given:
            rotation.is_auto_rotation_enabled = body.is_auto_rotation_enabled
        if "rotation_interval" in given:
            rotation.rotation_interval = body.rotation_interval
        if "rotate_at_utc" in given:
            rotation.rotate_at_hours = body.rotate_at_utc.hours
            rotation.rotate_at_minutes = body.rotate_at_utc.minutes
        if "parameters" in given:
            rotation.parameters = stored_parameters(body.parameters)  # replaced whole; applies to the next mint
        # Last: the lifetime rule reads the merged interval.
        revocation = body.revocation if "revocation" in given else None
        revocation_policy.apply_update(rotation, rtype, revocation, interval_changed="rotation_interval" in given)

    changed = sorted(type(body).model_fields[f].alias or f for f in given)
    updated = changes.update_rotation(rotation_id, apply=apply, changed_fields=changed, actor=principal)
    return rotation_views.view(session, updated)


def _rename_mapped_secret(session: Session, rotation: SecretRotation, new_key: str) -> None:
    old_key = (rotation.secrets_mapping or {}).get("apiKey")
    if new_key == old_key:
        return
    check_secrets_free(session, rotation.environment_id, rotation.secret_path, [new_key])
    for secret in store.secrets_of_rotation(session, rotation.id):
        if secret.key == old_key:
            store.rename_secret(session, secret, new_key)
    rotation.secrets_mapping = {**(rotation.secrets_mapping or {}), "apiKey": new_key}


def delete_rotation(
    session: Session, principal: Principal, rtype: RotationType, rotation_id: str, *, delete_secrets: bool, revoke: bool
) -> RotationPublic:
    """R8 (rotation §9): revoke first if asked (400 and nothing deleted on failure), then delete."""
    get_authorized(session, principal, rtype, rotation_id, "delete")
    deleted = changes.delete_rotation(rotation_id, delete_secrets=delete_secrets, revoke=revoke, actor=principal)
    return rotation_views.view(session, deleted)


def rotate_now(
    session: Session, principal: Principal, rtype: RotationType, rotation_id: str, *, revoke_superseded: bool = False
) -> RotationPublic:
    """R10: synchronous manual rotation; a provider failure surfaces from the engine as 502.

    `revoke_superseded` (the emergency rotation, rotation §14l) needs `revoke-superseded` too (project admins):
    the new key is published, then every earlier live key is revoked at once; 502 if the provider has not
    confirmed them all."""
    rotation = get_authorized(session, principal, rtype, rotation_id, "rotate-secrets")
    if revoke_superseded:
        authorize(session, principal, "revoke-superseded", rotation)
    try:
        if revoke_superseded:
            rotated = emergency.rotate_and_revoke(rotation_id, actor=principal)
        else:
            rotated = engine.rotate(rotation_id, manual=True, actor=principal)
    except publish.PublishConflict:  # logged and recorded as a failed attempt by the engine; nothing was published
        raise BadRequest(PUBLISH_CONFLICT) from None
    return rotation_views.view(session, rotated)


def check_credentials(session: Session, principal: Principal, rtype: RotationType, rotation_id: str) -> None:
    """R11: verify the active key with the provider (the engine audits it); 400 with the spec's messages
    otherwise."""
    get_authorized(session, principal, rtype, rotation_id, "read-generated-credentials")
    engine.check_credentials(rotation_id, actor=principal)
