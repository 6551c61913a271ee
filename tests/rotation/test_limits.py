"""Provider limits: concurrency cap, token bucket and Retry-After cooldown, on a fake clock."""

from __future__ import annotations

import threading
import time

import pytest

from app.rotation.limits import MAX_COOLDOWN_SECONDS, LimiterTimeout, ProviderLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_burst_then_rate_limited(clock):
    limiter = ProviderLimiter(max_concurrency=100, rate_per_second=2.0, burst=3, clock=clock)
    for _ in range(3):
        assert limiter.try_acquire("c1") == 0.0
    wait = limiter.try_acquire("c1")
    assert wait == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.try_acquire("c1") == 0.0
    assert limiter.try_acquire("c1") > 0


def test_tokens_refill_up_to_burst_only(clock):
    limiter = ProviderLimiter(max_concurrency=100, rate_per_second=10.0, burst=2, clock=clock)
    clock.advance(3600)
    assert limiter.try_acquire("c1") == 0.0
    assert limiter.try_acquire("c1") == 0.0
    assert limiter.try_acquire("c1") > 0


def test_concurrency_cap_until_release(clock):
    limiter = ProviderLimiter(max_concurrency=2, rate_per_second=0, burst=1, clock=clock)
    assert limiter.try_acquire("c1") == 0.0
    assert limiter.try_acquire("c1") == 0.0
    assert limiter.try_acquire("c1") > 0
    limiter.release("c1")
    assert limiter.try_acquire("c1") == 0.0


def test_connections_are_independent(clock):
    limiter = ProviderLimiter(max_concurrency=1, rate_per_second=1.0, burst=1, clock=clock)
    assert limiter.try_acquire("c1") == 0.0
    limiter.penalise("c1", 30)
    assert limiter.try_acquire("c2") == 0.0


def test_penalise_blocks_new_calls_for_retry_after(clock):
    limiter = ProviderLimiter(max_concurrency=10, rate_per_second=100.0, burst=10, clock=clock)
    limiter.penalise("c1", 2.5)
    assert limiter.try_acquire("c1") == pytest.approx(2.5)
    clock.advance(2.4)
    assert limiter.try_acquire("c1") > 0
    clock.advance(0.1)
    assert limiter.try_acquire("c1") == 0.0


def test_penalise_does_not_burst_after_cooldown(clock):
    limiter = ProviderLimiter(max_concurrency=10, rate_per_second=1.0, burst=10, clock=clock)
    limiter.penalise("c1", 5)
    clock.advance(5)
    assert limiter.try_acquire("c1") == 0.0
    assert limiter.try_acquire("c1") == pytest.approx(1.0)


@pytest.mark.parametrize("retry_after, expected", [(None, 1.0), (0, 1.0), (-3, 1.0), (10**6, MAX_COOLDOWN_SECONDS)])
def test_penalise_default_and_cap(clock, retry_after, expected):
    limiter = ProviderLimiter(clock=clock)
    limiter.penalise("c1", retry_after)
    assert limiter.snapshot("c1")["cooldown_remaining"] == pytest.approx(expected)


def test_shorter_penalty_keeps_longer_cooldown(clock):
    limiter = ProviderLimiter(clock=clock)
    limiter.penalise("c1", 30)
    limiter.penalise("c1", 1)
    assert limiter.snapshot("c1")["cooldown_remaining"] == pytest.approx(30)
    assert limiter.snapshot("c1")["penalties"] == 2


def test_release_without_acquire_is_a_bug(clock):
    limiter = ProviderLimiter(clock=clock)
    with pytest.raises(RuntimeError):
        limiter.release("c1")


@pytest.mark.parametrize("kwargs", [{"max_concurrency": 0}, {"burst": 0}])
def test_rejects_unusable_limits(kwargs):
    with pytest.raises(ValueError):
        ProviderLimiter(**kwargs)


def test_slot_holds_the_cap_across_threads():
    limiter = ProviderLimiter(max_concurrency=2, rate_per_second=0, burst=1)
    lock = threading.Lock()
    in_flight, peak = [0], [0]

    def call() -> None:
        with limiter.slot("c1"):
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            time.sleep(0.02)
            with lock:
                in_flight[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert peak[0] == 2
    assert limiter.snapshot("c1")["in_flight"] == 0


def test_slot_paces_to_the_rate():
    limiter = ProviderLimiter(max_concurrency=50, rate_per_second=50.0, burst=1)
    started = time.monotonic()
    for _ in range(6):
        with limiter.slot("c1"):
            pass
    # One token at once, then five at 50/s: at least 0.1 s.
    assert time.monotonic() - started >= 0.09


def test_slot_times_out_during_cooldown_and_takes_nothing():
    limiter = ProviderLimiter(max_concurrency=1, rate_per_second=0, burst=1)
    limiter.penalise("c1", 10)
    with pytest.raises(LimiterTimeout), limiter.slot("c1", timeout=0.05):
        pass
    assert limiter.snapshot("c1")["in_flight"] == 0


def test_slot_releases_when_the_body_raises():
    limiter = ProviderLimiter(max_concurrency=1, rate_per_second=0, burst=1)
    with pytest.raises(KeyError), limiter.slot("c1"):
        raise KeyError("boom")
    assert limiter.try_acquire("c1") == 0.0
