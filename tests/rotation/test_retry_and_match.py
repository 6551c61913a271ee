"""Pure rules: the backoff policy, the brief verify retry, and how reconciliation matches a listed key."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.backoff import backoff_seconds
from app.models import RotationCredential
from app.providers.base import ListedKey, ProviderError
from app.rotation.intents import key_name
from app.rotation.reconcile import matches
from app.rotation.retry import verify_with_retry


@pytest.mark.parametrize("attempt,low,high", [(1, 5, 10), (2, 10, 20), (3, 20, 40), (10, 50, 100)])
def test_backoff_is_exponential_jittered_and_capped(attempt, low, high):
    rng = random.Random(7)
    for _ in range(50):
        assert low <= backoff_seconds(attempt, base=10, cap=100, rng=rng) <= high


def test_backoff_never_undercuts_retry_after():
    assert backoff_seconds(1, base=1, cap=10, retry_after=42) == 42


def test_verify_retries_a_transient_failure_then_passes():
    calls = []

    def check():
        calls.append(1)
        if len(calls) < 3:
            raise ProviderError("not yet", status=401)

    verify_with_retry(check, sleep=lambda _: None)
    assert len(calls) == 3


def test_verify_gives_up_after_three_tries_and_raises_the_last_error():
    def check():
        raise ProviderError("down", status=503, retryable=True)

    with pytest.raises(ProviderError, match="down"):
        verify_with_retry(check, sleep=lambda _: None)


def test_key_names_are_unique_per_rotation_and_generation():
    when = datetime(2025, 4, 23, 19, 46, tzinfo=UTC)
    assert key_name("my-app-key", "3b1d2f0e-7a3c-4a8e-9b52-0d6c2f1e9a11", 1, when) == "my-app-key-20250423-g1-3b1d2f0e"


def test_match_is_every_key_with_the_exact_name_whatever_the_clocks_within_hours(caplog):
    created = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    cred = RotationCredential(
        rotation_id="r",
        connection_id="c",
        provider="open-router",
        generation=2,
        key_name="k-20250601-g2-abcd1234",
        created_at=created,
    )
    listed = [
        ListedKey("a", "k-20250601-g2-abcd1234", created - timedelta(minutes=5)),  # our clock ran fast
        ListedKey("b", "k-20250601-g2-abcd12345", created),  # not the exact name
        ListedKey("c", "k-20250601-g2-abcd1234", created + timedelta(minutes=30)),  # our clock ran slow
        ListedKey("c", "k-20250601-g2-abcd1234", created + timedelta(minutes=30)),  # seen twice mid-scan
        ListedKey("d", "k-20250601-g2-abcd1234", None),
        ListedKey("e", "k-20250601-g2-abcd1234", created - timedelta(hours=7)),  # hours before its intent
    ]
    with caplog.at_level("WARNING", logger="keyturn.reconcile"):
        assert [k.key_id for k in matches(cred, listed)] == ["a", "c", "d"]
    assert "carries the name of intent g2" in caplog.text and "not adopted" in caplog.text
    assert matches(cred, listed[1:2]) == []
