"""The emulators' usage meter: UTC periods (weeks from Monday), exact sums of small charges, and prices."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from emulators.usage import Meter, as_price, completion_cost, period_start


@pytest.mark.parametrize(
    ("moment", "daily", "weekly", "monthly"),
    [
        (datetime(2025, 9, 1, 0, 0, tzinfo=UTC), date(2025, 9, 1), date(2025, 9, 1), date(2025, 9, 1)),  # Monday
        (datetime(2025, 8, 31, 23, 59, 59, tzinfo=UTC), date(2025, 8, 31), date(2025, 8, 25), date(2025, 8, 1)),
        (datetime(2024, 2, 29, 12, tzinfo=UTC), date(2024, 2, 29), date(2024, 2, 26), date(2024, 2, 1)),
        (datetime(2026, 1, 1, tzinfo=UTC), date(2026, 1, 1), date(2025, 12, 29), date(2026, 1, 1)),  # week spans years
    ],
)
def test_period_start(moment, daily, weekly, monthly):
    assert (period_start("daily", moment), period_start("weekly", moment), period_start("monthly", moment)) == (
        daily,
        weekly,
        monthly,
    )


def test_many_small_charges_add_up_exactly():
    meter, now = Meter(), datetime(2025, 9, 3, tzinfo=UTC)
    for _ in range(10):
        meter.charge(Decimal("0.1"), now)
    assert meter.usage_json(now) == {"usage": 1.0, "usage_daily": 1.0, "usage_weekly": 1.0, "usage_monthly": 1.0}


def test_free_requests_count_per_day_and_cost_nothing():
    meter, monday = Meter(), datetime(2025, 9, 1, 10, tzinfo=UTC)
    meter.charge(completion_cost("x/y:free", Decimal("0.5")), monday)
    meter.charge(Decimal(0), monday)
    assert meter.free_requests_today(monday) == 2 and meter.total == 0 and meter.last_used_at == monday
    assert meter.free_requests_today(datetime(2025, 9, 2, tzinfo=UTC)) == 0


@pytest.mark.parametrize("value", [-0.01, "nan", "Infinity", "abc", True, None, [1]])
def test_a_price_must_be_a_finite_number_at_least_zero(value):
    with pytest.raises(ValueError):
        as_price(value)


def test_prices_keep_their_decimal_value():
    assert as_price(0.0001) == Decimal("0.0001") and as_price("2") == 2 and as_price(0) == 0
