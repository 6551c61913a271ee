"""Provider limits: per-connection concurrency cap, token-bucket rate and Retry-After cooldown.

One `ProviderLimiter` per process, shared by every thread that calls a provider (worker threads,
API rotate-now, reconcile, revocations), so the limits hold for all the work the process does.
Each connection id has its own bucket, slot count and cooldown: one provider slowing us down
does not stall the others. Pure logic around a lock; the clock is injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# Retry-After values are capped: a provider asking for an hour should not freeze a worker that long.
MAX_COOLDOWN_SECONDS = 300.0
# A 429 without Retry-After still backs off this long.
DEFAULT_COOLDOWN_SECONDS = 1.0


class LimiterTimeout(TimeoutError):
    """No slot became free within the caller's timeout."""


@dataclass
class _ConnectionState:
    tokens: float
    refilled_at: float
    in_flight: int = 0
    cooldown_until: float = 0.0
    penalties: int = 0


class ProviderLimiter:
    """Thread-safe limiter keyed by connection id.

    `rate_per_second` <= 0 disables the rate limit; `max_concurrency` is at least 1.
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 4,
        rate_per_second: float = 10.0,
        burst: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.max_concurrency = max_concurrency
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._clock = clock
        self._lock = threading.Condition(threading.Lock())
        self._states: dict[str, _ConnectionState] = {}

    # -- non-blocking core (what the tests drive with a fake clock) -------------------------------

    def try_acquire(self, connection_id: str) -> float:
        """Take a slot and a token now and return 0.0, or take nothing and return how long to wait
        before trying again (a positive number; for a full concurrency cap, a short re-poll hint)."""
        with self._lock:
            return self._try_acquire_locked(connection_id)

    def release(self, connection_id: str) -> None:
        """Give back a slot taken by `try_acquire` (tokens are spent, not returned)."""
        with self._lock:
            state = self._states.get(connection_id)
            if state is None or state.in_flight == 0:
                raise RuntimeError("release without a matching acquire")
            state.in_flight -= 1
            self._lock.notify_all()

    def penalise(self, connection_id: str, retry_after: float | None) -> None:
        """The provider answered 429 (or asked us to wait): no new call on this connection starts
        before `retry_after` seconds (default 1 s, capped at 300 s). Calls in flight are not touched.
        A later, shorter penalty never shortens a longer cooldown already in force."""
        seconds = DEFAULT_COOLDOWN_SECONDS if retry_after is None or retry_after <= 0 else retry_after
        seconds = min(seconds, MAX_COOLDOWN_SECONDS)
        with self._lock:
            state = self._state(connection_id)
            state.cooldown_until = max(state.cooldown_until, self._clock() + seconds)
            state.penalties += 1
            # The bucket is emptied too, so the calls after the cooldown do not burst straight back.
            state.tokens = min(state.tokens, 1.0)
            state.refilled_at = max(state.refilled_at, state.cooldown_until)
            self._lock.notify_all()

    # -- blocking use ------------------------------------------------------------------------------

    @contextmanager
    def slot(self, connection_id: str, *, timeout: float | None = None) -> Iterator[None]:
        """Hold one provider call's worth of capacity on `connection_id` for the `with` body.
        Blocks until the cooldown is over, a concurrency slot is free and a token is available;
        raises LimiterTimeout if that takes longer than `timeout` seconds (None: wait for ever)."""
        self.acquire(connection_id, timeout=timeout)
        try:
            yield
        finally:
            self.release(connection_id)

    def acquire(self, connection_id: str, *, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                wait = self._try_acquire_locked(connection_id)
                if wait == 0.0:
                    return
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise LimiterTimeout(f"no provider slot for connection {connection_id} within {timeout}s")
                    wait = min(wait, remaining)
                # Woken early by release()/penalise(); otherwise re-check when a token is due.
                self._lock.wait(wait)

    # -- inspection --------------------------------------------------------------------------------

    def snapshot(self, connection_id: str) -> dict[str, float]:
        """Counters for logs and tests: in_flight, tokens, cooldown_remaining, penalties."""
        with self._lock:
            state = self._state(connection_id)
            self._refill(state)
            now = self._clock()
            return {
                "in_flight": state.in_flight,
                "tokens": state.tokens,
                "cooldown_remaining": max(0.0, state.cooldown_until - now),
                "penalties": state.penalties,
            }

    # -- internals (called with the lock held) -----------------------------------------------------

    def _state(self, connection_id: str) -> _ConnectionState:
        state = self._states.get(connection_id)
        if state is None:
            state = _ConnectionState(tokens=float(self.burst), refilled_at=self._clock())
            self._states[connection_id] = state
        return state

    def _refill(self, state: _ConnectionState) -> None:
        now = self._clock()
        if self.rate_per_second <= 0:
            state.tokens = float(self.burst)
        elif now > state.refilled_at:
            state.tokens = min(float(self.burst), state.tokens + (now - state.refilled_at) * self.rate_per_second)
        state.refilled_at = max(state.refilled_at, now)

    def _try_acquire_locked(self, connection_id: str) -> float:
        state = self._state(connection_id)
        now = self._clock()
        if state.cooldown_until > now:
            return state.cooldown_until - now
        if state.in_flight >= self.max_concurrency:
            return 0.05  # release() wakes waiters; this is only the fallback re-check
        self._refill(state)
        if self.rate_per_second > 0 and state.tokens < 1.0:
            return max((1.0 - state.tokens) / self.rate_per_second, 0.001)
        if self.rate_per_second > 0:
            state.tokens -= 1.0
        state.in_flight += 1
        return 0.0


_process_limiter: ProviderLimiter | None = None
_process_lock = threading.Lock()


def provider_limiter() -> ProviderLimiter:
    """The process-wide limiter, built once from the settings."""
    global _process_limiter
    with _process_lock:
        if _process_limiter is None:
            from app.config import get_settings

            settings = get_settings()
            _process_limiter = ProviderLimiter(
                max_concurrency=settings.provider_max_concurrency,
                rate_per_second=settings.provider_rate_per_second,
                burst=settings.provider_burst,
            )
        return _process_limiter


def reset_provider_limiter() -> None:
    """Forget the process-wide limiter (tests that install new settings)."""
    global _process_limiter
    with _process_lock:
        _process_limiter = None
