"""The rotation engine: the only code that mints keys.

Create, rotate-now and the worker come through here (update and delete: app.rotation.changes). Every
step is a unit of work of its own from app.db: an intent record commits before its provider call, so
the engine cannot share the caller's transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import cast

from sqlmodel import Session, col, select

from app import db, logcontext, metrics
from app.auth.principal import Principal
from app.config import get_settings
from app.errors import BadRequest, NotFound, ProviderFailure
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.providers.base import ProviderError
from app.rotation import (
    attempt,
    audit_events,
    failures,
    heartbeat,
    killpoint,
    lease,
    notices,
    publish,
    reconcile,
    schedule,
)
from app.rotation.intents import Intent, insert_intent, open_key, transition
from app.rotation.messages import INTERNAL_FAILURE, failure_text
from app.rotation.minting import MintFailed, discard, mint_and_verify, revoke_now
from app.rotation.upstream import ConnectionUnavailable, Upstream, for_connection
from app.store import secrets as secrets_store
from app.timeutil import utcnow
from app.webhooks.events import FailureCategory

log = logging.getLogger("keyturn.rotation")

S = CredentialState
IN_PROGRESS = "A rotation is in progress. Please try again shortly."
NO_ACTIVE = "No active credentials are available to check for this rotation."


def _row(rotation_id: str) -> SecretRotation:
    with db.unit_of_work() as session:
        rotation = session.get(SecretRotation, rotation_id)
    if rotation is None:
        raise NotFound(f'Could not find Secret Rotation with ID "{rotation_id}"')
    return rotation


def _unit_seconds() -> int:
    return get_settings().interval_unit_seconds


def _upstream(session: Session, connection_id: str) -> Upstream:
    try:
        return for_connection(session, connection_id)
    except ConnectionUnavailable as exc:
        raise MintFailed(str(exc), FailureCategory.CONNECTION_UNAVAILABLE) from None


def create_rotation(
    rotation: SecretRotation,
    *,
    secret_name: str,
    recheck: Callable[[Session], None],
    actor: Principal | str = audit_events.PLATFORM,
) -> SecretRotation:
    """Mint generation 1 for a not-yet-saved rotation (its id already chosen), verify it, then in one
    transaction call `recheck(session)` (raises BadRequest on a conflict), insert the rotation, create
    the mapped secret (version 1), mark the credential active in slot 0 and audit the creation as `actor`.
    A provider failure raises BadRequest (400) and queues the revocation of anything minted. Returns the
    saved rotation."""
    try:
        with db.unit_of_work() as session:  # the intent commits before the mint
            upstream = _upstream(session, rotation.connection_id)
            minted_at = utcnow()
            cred = insert_intent(
                session,
                rotation_id=rotation.id,
                connection_id=rotation.connection_id,
                provider=upstream.app_slug,
                generation=1,
                base_name=rotation.parameters["name"],
                now=minted_at,
                credential_fingerprint=upstream.fingerprint,
                expires_at=schedule.key_expires_at(minted_at, rotation.revocation_key_lifetime_seconds),
            )
        api_key = mint_and_verify(upstream, cred.id, cred.key_name, rotation.parameters, expires_at=cred.expires_at)
    except MintFailed as exc:
        raise BadRequest(exc.message) from None
    try:
        with db.unit_of_work() as session:
            recheck(session)
            now = utcnow()
            rotation.active_index = 0
            rotation.rotation_status = "success"
            rotation.last_rotated_at = rotation.last_rotation_attempted_at = now
            rotation.created_at = rotation.updated_at = now
            rotation.is_last_rotation_manual = True
            rotation.last_rotation_job_id = None
            rotation.last_rotation_message = None
            rotation.next_generation = 2
            rotation.failed_attempts = 0
            rotation.next_rotation_at = schedule.for_rotation(
                rotation, now=now, manual=True, unit_seconds=_unit_seconds()
            )
            rotation.expiry_due_at = schedule.expiry_due_at(
                cred.expires_at, rotation.rotation_interval, _unit_seconds()
            )
            session.add(rotation)
            session.flush()
            secrets_store.create_secret(
                session,
                project_id=rotation.project_id,
                environment_id=rotation.environment_id,
                path=rotation.secret_path,
                key=secret_name,
                value=api_key,
                rotation_id=rotation.id,
                generation=1,
            )
            if not transition(session, cred.id, [S.MINTED], state=S.ACTIVE, slot=0, published_at=now):
                raise RuntimeError("the new key's intent record was closed before it could be published")
            audit_events.record(
                session,
                actor,
                "create-secret-rotation",
                rotation,
                environmentId=rotation.environment_id,
                secretPath=rotation.secret_path,
                connectionId=rotation.connection_id,
                secretName=secret_name,
                generation=1,
            )
            notices.secret_modified(session, rotation)
    except BaseException:
        discard(cred.id, "not published: the rotation could not be saved")
        raise
    log.info("rotation %s created with generation 1", rotation.id)
    return rotation


def rotate(
    rotation_id: str,
    *,
    manual: bool,
    job_id: str | None = None,
    actor: Principal | str = audit_events.PLATFORM,
    lease_owner: str | None = None,
) -> SecretRotation:
    """One rotation under the lease. Manual: BadRequest (400) if the lease is held; ProviderFailure (502)
    on a provider failure (the row is marked failed). Scheduled: returns after recording the attempt.
    Every attempt's outcome is audited as `actor` (the caller of a manual rotation, else the platform).
    `lease_owner`: the token of a lease the caller already holds (the worker's batch claim), re-taken here.
    The lease is given back before this returns or raises, whenever it was taken."""
    with logcontext.about_rotation(rotation_id):  # its log lines name the rotation
        owner = lease_owner or lease.new_owner()
        begun = attempt.begin(rotation_id, owner, manual=manual)
        if begun.rotation is None:
            rotation = _row(rotation_id)
            if manual:
                raise BadRequest(lease.BUSY_MESSAGE)
            return rotation  # another worker claimed it first
        held = [True]  # cleared by the write that gives the lease back
        try:
            return _rotate_leased(begun, owner, held, manual=manual, job_id=job_id, actor=actor)
        finally:
            if held[0]:
                lease.release(rotation_id, owner)


def _rotate_leased(
    begun: attempt.Begun,
    owner: str,
    held: list[bool],
    *,
    manual: bool,
    job_id: str | None,
    actor: Principal | str,
) -> SecretRotation:
    rotation = cast(SecretRotation, begun.rotation)
    rotation_id = rotation.id
    if begun.not_due:
        return rotation
    with heartbeat.Heartbeat(rotation_id, owner):
        if begun.open_intents:
            reconcile.reconcile(begun.open_intents)
            begun = attempt.begin(rotation_id, owner, manual=manual, reconciled=True)
            if begun.rotation is None:
                raise lease.LeaseLost(f"lost the lease of rotation {rotation_id}")
            rotation = begun.rotation
        generation = begun.cred.generation if begun.cred is not None else None  # for the audit row
        started = time.monotonic()

        def counted(outcome: str) -> None:
            seconds = time.monotonic() - started
            metrics.rotation_attempt(
                rotation.type, outcome=outcome, trigger=audit_events.trigger(manual=manual), seconds=seconds
            )

        try:
            if begun.unavailable is not None:
                raise MintFailed(begun.unavailable, FailureCategory.CONNECTION_UNAVAILABLE)
            cred, upstream = cast(Intent, begun.cred), cast(Upstream, begun.upstream)
            api_key = mint_and_verify(upstream, cred.id, cred.key_name, rotation.parameters, expires_at=cred.expires_at)
        except MintFailed as exc:
            counted("failed")
            text = failure_text(exc.message)
            failed = failures.record_failed_attempt(
                rotation_id,
                owner,
                manual=manual,
                job_id=job_id,
                text=text,
                category=exc.category,
                retry_after=exc.retry_after,
                generation=generation,
                actor=actor,
            )
            if manual:
                raise ProviderFailure(text) from None
            return failed
        try:
            due_now = publish.new_key(rotation, owner, cred, api_key, manual=manual, job_id=job_id, actor=actor)
        except Exception:  # the original error is the one worth raising
            counted("failed")
            log.exception("rotation %s: publishing generation %s failed", rotation_id, cred.generation)
            discard(cred.id, "not published: the publish transaction failed")
            try:
                failures.record_failed_attempt(
                    rotation_id,
                    owner,
                    manual=manual,
                    job_id=job_id,
                    text=INTERNAL_FAILURE,
                    category=FailureCategory.INTERNAL_ERROR,
                    generation=cred.generation,
                    actor=actor,
                )
            except Exception:
                log.warning("rotation %s: could not record the failed attempt", rotation_id, exc_info=True)
            raise
        counted("success")
    if not due_now:
        held[0] = False  # the publish gave the lease back: nothing is left to do under it
    killpoint.reached("after_publish")
    for index, entry in enumerate(due_now):
        last = index == len(due_now) - 1
        # The last confirmation gives the lease back in its own commit; anything else leaves that to `rotate`.
        release = (rotation_id, owner) if last else None
        done = revoke_now(entry, upstream=upstream, release=release, may_hold=rotation.revocation_hold_while_in_use)
        if done:
            held[0] = held[0] and not last
        elif done is False:  # None: held while in use (app.rotation.holds), not a failure
            rotation = failures.note_failed_revocation(rotation, owner, entry) or rotation
    return rotation


def check_credentials(rotation_id: str, *, actor: Principal | str = audit_events.PLATFORM) -> None:
    """Verify the active key with the provider; BadRequest (400) with the spec's messages otherwise.
    Audited as `actor` either way, in a transaction of its own: the caller's rolls back with the 400."""
    rotation = _row(rotation_id)
    try:
        _verify_active_key(rotation)
    except BadRequest:
        _audit_check(rotation, actor, "failed")
        raise
    _audit_check(rotation, actor, "success")


def _verify_active_key(rotation: SecretRotation) -> None:
    if lease.is_held(rotation):
        raise BadRequest(IN_PROGRESS)
    with db.unit_of_work() as session:
        active = session.exec(
            select(RotationCredential).where(
                RotationCredential.rotation_id == rotation.id,
                RotationCredential.state == S.ACTIVE,
                col(RotationCredential.encrypted_key).is_not(None),
            )
        ).first()
        api_key = open_key(active) if active is not None else None
        if active is None or api_key is None:
            raise BadRequest(NO_ACTIVE)
        try:
            upstream = for_connection(session, active.connection_id)
        except ConnectionUnavailable as exc:
            raise BadRequest(str(exc)) from None
    try:
        upstream.verify(api_key)
    except ProviderError as exc:
        raise BadRequest(exc.message) from None


def _audit_check(rotation: SecretRotation, actor: Principal | str, status: str) -> None:
    with db.unit_of_work() as session:
        audit_events.record(session, actor, audit_events.CHECK_EVENT, rotation, status=status)
