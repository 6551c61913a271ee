"""What a chat completion costs at an emulator, and the running usage of one key.

A completion costs the emulator's `completion_cost` (USD), except on a model whose name ends in `:free`,
which costs nothing: OpenRouter counts usage in credits, so free requests never move `usage`, while they
still count as a use (`last_used_at`, OpenRouter's `free_model_daily_requests`). Periods are UTC, weeks run
Monday to Sunday (OpenRouter §3). Amounts are kept as Decimal so that many small charges add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

FREE_SUFFIX = ":free"
DEFAULT_COMPLETION_COST = Decimal("0.0001")
PERIODS = ("daily", "weekly", "monthly")


def completion_cost(model: str, price: Decimal) -> Decimal:
    return Decimal(0) if model.endswith(FREE_SUFFIX) else price


def as_price(value: object) -> Decimal:
    """A per-completion price from a test or the control API: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("a completion cost must be a number")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("a completion cost must be a number") from None
    if not price.is_finite() or price < 0:
        raise ValueError("a completion cost must be a finite number >= 0")
    return price


def period_start(period: str, moment: datetime) -> date:
    day = moment.date()
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())  # Monday
    return day.replace(day=1)


@dataclass
class Meter:
    """One key's usage: all-time, per current period, free requests today, and when it was last used."""

    total: Decimal = Decimal(0)
    periods: dict[str, tuple[date, Decimal]] = field(default_factory=dict)
    free_requests: tuple[date, int] | None = None
    last_used_at: datetime | None = None

    def charge(self, cost: Decimal, now: datetime) -> None:
        self.last_used_at = now
        if cost == 0:
            today = now.date()
            used = self.free_requests[1] if self.free_requests and self.free_requests[0] == today else 0
            self.free_requests = (today, used + 1)
            return
        self.total += cost
        for period in PERIODS:
            self.periods[period] = (period_start(period, now), self.in_period(period, now) + cost)

    def in_period(self, period: str, now: datetime) -> Decimal:
        start, amount = self.periods.get(period, (None, Decimal(0)))
        return amount if start == period_start(period, now) else Decimal(0)

    def free_requests_today(self, now: datetime) -> int:
        return self.free_requests[1] if self.free_requests and self.free_requests[0] == now.date() else 0

    def usage_json(self, now: datetime) -> dict[str, float]:
        """OpenRouter's `usage`, `usage_daily`, `usage_weekly`, `usage_monthly`, in USD."""
        return {"usage": float(self.total), **{f"usage_{p}": float(self.in_period(p, now)) for p in PERIODS}}

    def remaining(self, limit: float | None, limit_reset: str | None, now: datetime) -> float | None:
        """What is left of a spending cap: the cap less the usage of its reset period (all time if none)."""
        if limit is None:
            return None
        spent = self.in_period(limit_reset, now) if limit_reset in PERIODS else self.total
        return float(max(Decimal(0), Decimal(str(limit)) - spent))


def requested_model(body: object, default: str) -> str:
    """The model a chat-completion body asks for; ValueError (a 400 at the emulator) for a body that is no
    completion request: not a JSON object, no non-empty `messages` list, or a `model` that is not a string."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ValueError("messages must be a non-empty array of message objects")
    model = body.get("model", default)
    if not isinstance(model, str) or not model:
        raise ValueError("model must be a non-empty string")
    return model
