"""The provider-usage rule of a hold (issue 12 (b), app.rotation.holds.usage_reasons), table-driven: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import RotationCredential
from app.providers.base import KeyUsage
from app.rotation.holds import usage_reasons

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUIET = 600
WAITING = "waiting for a quiet window of 600 s in provider usage"


def cred(baseline: float | None = None, baseline_age: float | None = None) -> RotationCredential:
    at = None if baseline_age is None else NOW - timedelta(seconds=baseline_age)
    return RotationCredential(
        rotation_id="r",
        connection_id="c",
        provider="open-router",
        generation=4,
        key_name="k",
        usage_baseline=baseline,
        usage_baseline_at=at,
    )


def reading(usage: float | None = None, last_used_ago: float | None = None) -> KeyUsage:
    last = None if last_used_ago is None else NOW - timedelta(seconds=last_used_ago)
    return KeyUsage(observed_at=NOW, usage=usage, last_used_at=last)


@pytest.mark.parametrize(
    ("stored", "read", "reason", "new_baseline"),
    [
        # No baseline yet: it is taken now, and the key waits a whole quiet window.
        (cred(), reading(usage=1.5), WAITING, 1.5),
        # Usage moved: in use, and the new reading is the baseline.
        (cred(1.5, 300), reading(usage=1.512), "provider usage rose by 0.012 in 300 s", 1.512),
        # Unchanged, but not for a quiet window yet.
        (
            cred(1.5, 300),
            reading(usage=1.5),
            "waiting for a quiet window of 600 s in provider usage (300 s so far)",
            None,
        ),
        # Unchanged for the quiet window: not in use.
        (cred(1.5, 600), reading(usage=1.5), None, None),
        # ARouter: no usage; a last use inside the window is use, outside it is not.
        (cred(), reading(last_used_ago=42), "provider last used the key 42 s ago", None),
        (cred(), reading(last_used_ago=601), None, None),
        # A provider that reports neither: nothing to hold for.
        (cred(), reading(), None, None),
    ],
)
def test_provider_usage_rule(stored, read, reason, new_baseline):
    reasons, values = usage_reasons(read, stored, quiet_seconds=QUIET, now=NOW)
    assert reasons == ([] if reason is None else [reason])
    if new_baseline is None:
        assert "usage_baseline" not in values
    else:
        assert values["usage_baseline"] == new_baseline and values["usage_baseline_at"] == NOW
    assert values.get("provider_last_used_at") == read.last_used_at
