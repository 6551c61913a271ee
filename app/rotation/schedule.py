"""When a rotation runs next: Infisical's nextRotationAt rules (rotation §7) and the interval unit (rotation §14i).

Pure functions of their arguments, so they are tested table-driven without a database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY_SECONDS = 86400


def _at_time_of_day(moment: datetime, hours: int, minutes: int) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(hour=hours, minute=minutes, second=0, microsecond=0)


def next_day_at(now: datetime, hours: int, minutes: int) -> datetime:
    """The next UTC calendar day after `now`, at hours:minutes (rule 2: retry a failed rotation daily)."""
    return _at_time_of_day(now, hours, minutes) + timedelta(days=1)


def next_rotation_at(
    *,
    enabled: bool,
    failed: bool,
    manual: bool,
    last_rotated_at: datetime,
    last_attempted_at: datetime,
    interval: int,
    hours: int,
    minutes: int,
    now: datetime,
    unit_seconds: int = DAY_SECONDS,
) -> datetime | None:
    """Apply rotation §7 (days) or rotation §14i (any shorter unit); the first matching rule wins."""
    if not enabled:
        return None
    if unit_seconds != DAY_SECONDS:
        # rotation §14i: rotateAtUtc is ignored and there is no manual padding.
        base = last_attempted_at if failed else last_rotated_at
        return base.astimezone(UTC) + timedelta(seconds=interval * unit_seconds)
    if failed:
        return next_day_at(now, hours, minutes)
    anchor = _at_time_of_day(last_rotated_at, hours, minutes)
    last = last_rotated_at.astimezone(UTC)
    padded = manual and (last.hour, last.minute, last.second, last.microsecond) >= (hours, minutes, 0, 0)
    return anchor + timedelta(days=interval + (1 if padded else 0))


def for_rotation(rotation, *, now: datetime, unit_seconds: int, manual: bool | None = None) -> datetime | None:
    """nextRotationAt for a SecretRotation row as it stands (after a run, or after an update)."""
    return next_rotation_at(
        enabled=rotation.is_auto_rotation_enabled,
        failed=rotation.rotation_status == "failed",
        manual=rotation.is_last_rotation_manual if manual is None else manual,
        last_rotated_at=rotation.last_rotated_at,
        last_attempted_at=rotation.last_rotation_attempted_at,
        interval=rotation.rotation_interval,
        hours=rotation.rotate_at_hours,
        minutes=rotation.rotate_at_minutes,
        now=now,
        unit_seconds=unit_seconds,
    )


def key_expires_at(now: datetime, lifetime_seconds: int | None) -> datetime | None:
    """When a key minted `now` dies on its own under the rotation's `revocation.keyLifetimeSeconds`; None: never."""
    return None if lifetime_seconds is None else now + timedelta(seconds=lifetime_seconds)


def expiry_due_at(expires_at: datetime | None, interval: int, unit_seconds: int) -> datetime | None:
    """When the active key's expiry makes its rotation due (issue 12): one interval, in seconds by the interval
    unit, before the key dies, so a rotation that fails there still has the interval to retry in."""
    return None if expires_at is None else expires_at - timedelta(seconds=interval * unit_seconds)
