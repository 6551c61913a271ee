"""Fault rules shared by every provider emulator: which request fails, how, and how often.

A rule matches a request by method and a regular expression searched in the path (no query string).
The first matching rule that fires wins. `times` counts firings (None = forever); `probability` < 1
fires randomly from a seeded RNG so that chaos tests are reproducible.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

KINDS = ("status", "latency", "drop", "applied_then_failed", "applied_then_drop")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str
    status: int = 500
    times: int | None = 1
    delay: float = 0.0
    retry_after: float | None = None
    probability: float = 1.0

    @property
    def applies_operation(self) -> bool:
        """Whether the emulator still performs the operation before failing."""
        return self.kind in ("latency", "applied_then_failed", "applied_then_drop")

    @property
    def drops(self) -> bool:
        return self.kind in ("drop", "applied_then_drop")

    def describe(self) -> dict:
        return {
            "method": self.method,
            "path_regex": self.path.pattern,
            "kind": self.kind,
            "status": self.status,
            "times": self.times,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "probability": self.probability,
        }


def make_fault(
    method: str,
    path_regex: str,
    *,
    kind: str,
    status: int = 500,
    times: int | None = 1,
    delay: float = 0.0,
    retry_after: float | None = None,
    probability: float = 1.0,
) -> Fault:
    """Build a validated rule; raise ValueError on nonsense so a test typo fails loudly."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
    if kind in ("status", "applied_then_failed") and not 400 <= int(status) <= 599:
        raise ValueError("a status fault needs a 4xx or 5xx status")
    if times is not None and int(times) < 1:
        raise ValueError("times must be >= 1 or None")
    if not 0.0 < float(probability) <= 1.0:
        raise ValueError("probability must be in (0, 1]")
    if float(delay) < 0:
        raise ValueError("delay must be >= 0")
    return Fault(
        method=method.upper(),
        path=re.compile(path_regex),
        kind=kind,
        status=int(status),
        times=None if times is None else int(times),
        delay=float(delay),
        retry_after=None if retry_after is None else float(retry_after),
        probability=float(probability),
    )


class FaultPlan:
    """The active fault rules of one emulator. Thread-safe."""

    def __init__(self, seed: int | None = None):
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._rng = random.Random(seed)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._rules.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def seed(self, n: int) -> None:
        with self._lock:
            self._rng.seed(n)

    def describe(self) -> list[dict]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def take(self, method: str, path: str) -> Fault | None:
        """The rule that fires for this request, if any, consuming one of its `times`."""
        with self._lock:
            for rule in self._rules:
                if rule.method not in (method, "*") or not rule.path.search(path):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return rule
        return None
