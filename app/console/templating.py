"""The console's Jinja2 environment: autoescaped templates from app/console/templates, and the filters that
make times and statuses readable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from app.timeutil import utcnow

TEMPLATES = Path(__file__).parent / "templates"
STATUS_WORDS = {
    "failed": ("✕", "Failed"),
    "held": ("⏸", "Held"),
    "paused": ("‖", "Paused"),
    "ok": ("✓", "Rotating"),
}
_UNITS = ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def relative(moment: datetime, now: datetime) -> str:
    """ "in 3 days", "5 minutes ago", "just now": the largest whole unit."""
    seconds = int((moment - now).total_seconds())
    if abs(seconds) < 5:
        return "just now"
    size, unit = next((size, unit) for size, unit in _UNITS if abs(seconds) >= size)
    count = abs(seconds) // size
    words = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {words}" if seconds > 0 else f"{words} ago"


def _as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(value: datetime | str | None, empty: str = "—") -> Markup:
    """A time as people read it, with the exact UTC time on hover (and for machines)."""
    if value is None or value == "":
        return Markup(escape(empty))
    moment = _as_datetime(value).astimezone(UTC)
    exact = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        moment.isoformat(), exact, relative(moment, utcnow())
    )


def status_badge(status: str, detail: str | None = None) -> Markup:
    """Status in words and colour, with a symbol so it reads without colour; a failure's message on hover."""
    symbol, word = STATUS_WORDS.get(status, ("?", status))
    return Markup('<span class="status status-{}"{}><span aria-hidden="true">{}</span> {}</span>').format(
        status, Markup(' title="{}"').format(detail) if detail else "", symbol, word
    )


templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = when
templates.globals["status_badge"] = status_badge
