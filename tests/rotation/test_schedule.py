"""nextRotationAt rules (rotation §7) and the interval unit (rotation §14i), with the spec's worked examples."""

from datetime import UTC, datetime

import pytest

from app.rotation.schedule import next_day_at, next_rotation_at


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (case, enabled, failed, manual, event time, rotateAtUtc, expected) — interval 30 days.
DAY_CASES = [
    ("create-after-rotate-time-pads", True, False, True, "2025-04-23T19:46:34.500", (0, 0), "2025-05-24T00:00"),
    ("scheduled-run", True, False, False, "2025-05-24T00:00:04", (0, 0), "2025-06-23T00:00"),
    ("manual-after-rotate-time-pads", True, False, True, "2025-05-30T10:00", (0, 0), "2025-06-30T00:00"),
    ("manual-before-rotate-time", True, False, True, "2025-05-30T09:00", (12, 0), "2025-06-29T12:00"),
    ("manual-exactly-at-rotate-time-pads", True, False, True, "2025-05-30T12:00", (12, 0), "2025-06-30T12:00"),
    ("final-failure-next-day", True, True, False, "2025-06-23T00:00:40", (0, 0), "2025-06-24T00:00"),
    ("disabled", False, False, True, "2025-05-30T10:00", (0, 0), None),
    ("disabled-wins-over-failed", False, True, False, "2025-05-30T10:00", (0, 0), None),
]


@pytest.mark.parametrize("case,enabled,failed,manual,event,at,expected", DAY_CASES, ids=[c[0] for c in DAY_CASES])
def test_next_rotation_at_in_days(case, enabled, failed, manual, event, at, expected):
    when = t(event)
    result = next_rotation_at(
        enabled=enabled,
        failed=failed,
        manual=manual,
        last_rotated_at=when,
        last_attempted_at=when,
        interval=30,
        hours=at[0],
        minutes=at[1],
        now=when,
    )
    assert result == (t(expected) if expected else None)
    if result is not None:
        assert result.second == 0 and result.microsecond == 0


def test_failed_rule_counts_from_now_not_last_rotation():
    result = next_rotation_at(
        enabled=True,
        failed=True,
        manual=True,
        last_rotated_at=t("2025-01-01T05:00"),
        last_attempted_at=t("2025-06-23T00:00:40"),
        interval=30,
        hours=6,
        minutes=30,
        now=t("2025-06-23T10:00"),
    )
    assert result == t("2025-06-24T06:30")


UNIT_CASES = [
    ("seconds-success", "seconds", 1, False, True, "2025-05-30T10:00:00.250", "2025-05-30T10:00:45.250"),
    ("minutes-no-padding", "minutes", 60, False, True, "2025-05-30T10:00", "2025-05-30T10:45"),
    ("hours", "hours", 3600, False, False, "2025-05-30T10:00", "2025-06-01T07:00"),
    ("failure-counts-from-attempt", "seconds", 1, True, False, "2025-05-30T10:00", "2025-05-30T10:10:45"),
]


@pytest.mark.parametrize(
    "case,unit,unit_seconds,failed,manual,rotated,expected", UNIT_CASES, ids=[c[0] for c in UNIT_CASES]
)
def test_next_rotation_at_in_short_units_ignores_rotate_at(case, unit, unit_seconds, failed, manual, rotated, expected):
    attempted = t("2025-05-30T10:10")
    result = next_rotation_at(
        enabled=True,
        failed=failed,
        manual=manual,
        last_rotated_at=t(rotated),
        last_attempted_at=attempted,
        interval=45,
        hours=23,
        minutes=59,
        now=attempted,
        unit_seconds=unit_seconds,
    )
    assert result == t(expected)


def test_short_unit_disabled_is_null():
    now = t("2025-05-30T10:00")
    assert (
        next_rotation_at(
            enabled=False,
            failed=False,
            manual=False,
            last_rotated_at=now,
            last_attempted_at=now,
            interval=5,
            hours=0,
            minutes=0,
            now=now,
            unit_seconds=1,
        )
        is None
    )


def test_next_day_at_rolls_month_and_year():
    assert next_day_at(t("2025-12-31T23:59:59"), 0, 0) == t("2026-01-01T00:00")
    assert next_day_at(t("2025-02-28T01:00"), 13, 5) == t("2025-03-01T13:05")
