"""The token buckets behind the login and read rate limits: burst, refill, a bounded table, and off at rate 0."""

from __future__ import annotations

import pytest

from app.auth.rate_limit import Buckets


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_gives_its_burst_then_refills_at_its_rate():
    ticks = Ticks()
    buckets = Buckets(burst=2, per_second=0.5, now=ticks)
    for _ in range(2):
        assert buckets.wait("a") == 0
        buckets.take("a")
    assert buckets.wait("a") == pytest.approx(2.0)  # one token at 0.5/s
    assert buckets.wait("b") == 0  # keys do not share
    ticks.now = 1.0
    assert buckets.wait("a") == pytest.approx(1.0)
    ticks.now = 2.0
    assert buckets.wait("a") == 0
    ticks.now = 100.0
    buckets.take("a")
    buckets.take("a")
    assert buckets.wait("a") > 0  # refilled to the burst, never beyond


def test_bucket_table_is_bounded_and_forgets_the_least_recently_used():
    ticks = Ticks()
    buckets = Buckets(burst=1, per_second=0.001, max_keys=3, now=ticks)
    for key in ("a", "b", "c"):
        buckets.take(key)
    buckets.wait("a")
    buckets.take("d")  # a fourth key: "b" is the least recently touched
    assert len(buckets._tokens) == 3
    assert buckets.wait("b") == 0  # forgotten: a full bucket again
    assert buckets.wait("a") > 0 and buckets.wait("c") > 0 and buckets.wait("d") > 0


def test_try_take_takes_a_token_or_says_how_long_to_wait():
    ticks = Ticks()
    buckets = Buckets(burst=2, per_second=4, now=ticks)
    assert buckets.try_take("a") == 0
    assert buckets.try_take("a") == 0
    assert buckets.try_take("a") == pytest.approx(0.25)  # one token at 4/s
    assert buckets.try_take("a") == pytest.approx(0.25)  # a refusal takes nothing
    ticks.now = 0.25
    assert buckets.try_take("a") == 0


def test_rate_zero_turns_the_limit_off():
    buckets = Buckets(burst=1, per_second=0)
    assert not buckets.enabled
    for _ in range(5):
        assert buckets.wait("a") == 0
        buckets.take("a")
        assert buckets.try_take("a") == 0
    assert not buckets._tokens
