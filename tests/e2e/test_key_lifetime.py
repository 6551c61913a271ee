"""Issue 12, Done means 6, end to end (OpenRouter: ARouter's API has no key expiry): with `keyLifetimeSeconds`
set, every key keyturn mints carries `expires_at` at the provider, and a rotation whose active key expires
within one interval is rotated at once, even with auto-rotation paused. Both databases (tests/e2e/conftest.py).

The shortest lifetime allowed is a day and more, so the test brings the expiry near by moving it in keyturn's
own records (rotation_credential.expires_at and secret_rotation.expiry_due_at), not by waiting."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine, select

from app.db import normalise_url
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.timeutil import utcnow
from tests.factories import holds_for, ts, wait_until

pytestmark = pytest.mark.slow
DAY = 86400


def _lifetime_of(key: dict) -> float:
    assert key["expires_at"] is not None, key
    return ts(key["expires_at"]) - ts(key["created_at"])


def _engine(database_url: str) -> Engine:
    """An engine of the test's own on the server's database (SQLite waits for the server's writes)."""
    sqlite = database_url.startswith("sqlite")
    return create_engine(normalise_url(database_url), connect_args={"timeout": 30} if sqlite else {})


def _active_expiry(database_url: str, rotation_id: str) -> float | None:
    engine = _engine(database_url)
    try:
        with Session(engine) as session:
            expires_at = session.exec(
                select(RotationCredential.expires_at).where(
                    RotationCredential.rotation_id == rotation_id, RotationCredential.state == CredentialState.ACTIVE
                )
            ).one()
    finally:
        engine.dispose()
    return expires_at.timestamp() if expires_at else None


def _bring_expiry_near(database_url: str, rotation_id: str, *, expires_in: float, interval: float) -> None:
    """The active key now expires in `expires_in` s as far as keyturn knows; the rotation is due one interval
    before that (as publishing it would have recorded)."""
    soon = utcnow() + timedelta(seconds=expires_in)
    engine = _engine(database_url)
    try:
        with Session(engine) as session:
            session.execute(
                update(RotationCredential)
                .where(
                    RotationCredential.rotation_id == rotation_id, RotationCredential.state == CredentialState.ACTIVE
                )
                .values(expires_at=soon)
            )
            session.execute(
                update(SecretRotation)
                .where(SecretRotation.id == rotation_id)
                .values(expiry_due_at=soon - timedelta(seconds=interval))
            )
            session.commit()
    finally:
        engine.dispose()


def test_minted_keys_carry_their_lifetime_and_a_key_near_expiry_is_rotated_early(openrouter_stack):
    stack, p = openrouter_stack, openrouter_stack.policy
    lifetime = 2 * p.interval + p.max_hold + DAY  # the shortest the rule allows
    rotation = stack.rotation("expiring", mode="scheduled", enabled=False, keyLifetimeSeconds=lifetime)
    created = rotation.object()
    assert created["revocation"]["keyLifetimeSeconds"] == lifetime
    assert created["isAutoRotationEnabled"] is False and created["nextRotationAt"] is None

    [first] = stack.emulator.live_keys()
    assert abs(_lifetime_of(first) - lifetime) <= 2, first
    stored = _active_expiry(stack.database_url, rotation.id)
    assert stored is not None and abs(stored - ts(first["expires_at"])) <= 1, (stored, first)

    _bring_expiry_near(stack.database_url, rotation.id, expires_in=p.interval / 2, interval=p.interval)
    wait_until(lambda: rotation.active_generation() == 2, 2 * p.poll + 10, "the rotation of the key near expiry")
    rotated = rotation.object()
    assert rotated["isLastRotationManual"] is False and rotated["isAutoRotationEnabled"] is False
    keys = stack.emulator.live_keys()
    assert len(keys) == 2 and all(abs(_lifetime_of(k) - lifetime) <= 2 for k in keys), keys

    # The new key expires a day from now: the rotation is not due again.
    holds_for(lambda: rotation.active_generation() == 2, time.time() + 3 * p.poll, "generation 2 staying active")
    assert len(rotation.history()) == 2
