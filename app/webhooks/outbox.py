"""Write an event's deliveries in the caller's transaction: one row per matching webhook.

Fanned out here, when the event happens, rather than by the sender: the webhooks that match are the ones that
existed when the change committed (as Infisical matches at trigger time), each delivery carries its own attempts,
error and response code for the delivery log, and an event nobody listens to writes nothing. The body is rendered
now for the webhook's type, so every retry sends the same bytes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Exists, bindparam, exists, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app import db
from app.models import Environment, Project
from app.models.base import new_id
from app.models.tables import WEBHOOK_DELIVERIES, WEBHOOKS
from app.models.webhook import DeliveryStatus
from app.timeutil import utcnow
from app.webhooks import bodies, paths
from app.webhooks.events import Event, Scope, payload, rotation_fields

RETRY_WINDOW_SECONDS = 24 * 3600  # a delivery is retried until this long after its event


def wants(webhook: Any, event: Event) -> bool:
    return not webhook.events_filter or any(entry.get("eventName") == event for entry in webhook.events_filter)


def scope_of(session: Session, project_id: str, environment_id: str, secret_path: str) -> Scope:
    project_name, slug, environment_name = session.exec(
        select(Project.name, Environment.slug, Environment.name)
        .join(Environment, col(Environment.project_id) == Project.id)
        .where(col(Project.id) == project_id, col(Environment.id) == environment_id)
    ).one()
    return Scope(project_id, project_name, slug, environment_name, secret_path)


W = WEBHOOKS.c
# The enabled webhooks of a project and environment, with what matching and queueing need (built once: every
# publish looks them up, and almost always finds none).
_LISTENING = sa_select(W.id, W.type, W.events_filter, W.secret_path).where(
    W.project_id == bindparam("p_project"), W.environment_id == bindparam("p_environment"), W.is_disabled.is_(False)
)


def any_listening(project_id: ColumnElement[Any], environment_id: ColumnElement[Any]) -> Exists:
    """Whether the scope has an enabled webhook, as an EXISTS correlated with the caller's columns: for a statement
    that already reads or writes the row that names the scope (the publish's lease write), so that the usual answer,
    none, costs no look-up of its own (`emit_many(..., any_listening=False)`)."""
    return exists().where(W.project_id == project_id, W.environment_id == environment_id, W.is_disabled.is_(False))


def emit(
    session: Session, event: Event, *, project_id: str, environment_id: str, secret_path: str, fields: dict[str, Any]
) -> int:
    """Queue `event` (its `project` object: the scope, then `fields`) for every enabled webhook of the project and
    environment whose path glob matches `secret_path` and whose filter takes the event. Returns how many."""
    return emit_many(
        session, [(event, fields)], project_id=project_id, environment_id=environment_id, secret_path=secret_path
    )


def emit_many(
    session: Session,
    events: list[tuple[Event, dict[str, Any]]],
    *,
    project_id: str,
    environment_id: str,
    secret_path: str,
    any_listening: bool = True,
) -> int:
    """`emit` for several events of one change in one scope, with one look-up of the webhooks for all of them.
    `any_listening=False`: this transaction has already read that no enabled webhook exists in the scope."""
    if not any_listening:
        return 0
    params = {"p_project": project_id, "p_environment": environment_id}
    hooks = [hook for hook in session.execute(_LISTENING, params) if paths.matches(hook.secret_path, secret_path)]
    if not hooks:
        return 0
    scope = scope_of(session, project_id, environment_id, secret_path)
    queued = 0
    for event, fields in events:
        takers = [hook for hook in hooks if wants(hook, event)]
        if not takers:
            continue
        body = payload(event, scope, fields)
        event_id, timestamp_ms = new_id(), int(utcnow().timestamp() * 1000)
        for hook in takers:
            queue(session, hook, event, body, event_id=event_id, timestamp_ms=timestamp_ms)
        queued += len(takers)
    return queued


def queue(
    session: Session,
    hook: Any,
    event: Event,
    body: dict[str, Any],
    *,
    event_id: str,
    timestamp_ms: int,
    window_seconds: float = RETRY_WINDOW_SECONDS,
) -> str:
    """One delivery row for `hook` (a Webhook, or a row with its id and type), due now (by the database's clock);
    returns its id."""
    delivery_id = new_id()
    session.execute(
        insert(WEBHOOK_DELIVERIES).values(
            id=delivery_id,
            webhook_id=hook.id,
            event_id=event_id,
            event=event.value,
            body=bodies.render(hook.type, body, event_id=event_id, timestamp_ms=timestamp_ms),
            occurred_at_ms=timestamp_ms,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=db.now(),
            give_up_at=db.now(window_seconds),
            created_at=utcnow(),
        )
    )
    return delivery_id


def emit_for_rotation(session: Session, event: Event, rotation: Any, **fields: Any) -> int:
    """`emit` in a rotation's scope (a SecretRotation): its environment and path, its id, name and type first."""
    return emit(
        session,
        event,
        project_id=rotation.project_id,
        environment_id=rotation.environment_id,
        secret_path=rotation.secret_path,
        fields=rotation_fields(rotation, **fields),
    )
