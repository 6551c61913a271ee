"""Prometheus counters and histograms of the work this process does: rotations, provider calls, revocation
failures, secret reads, read-cache lookups, login failures.

State (a rotation's last success, queued revocations, worker heartbeats...) is not here: it is read from the
database at scrape time (app.services.state_metrics), so every replica reports the same values.

Several processes: under `keyturn serve` every web process and the embedded worker is a process of its own. Serve
points PROMETHEUS_MULTIPROC_DIR at a directory it owns (app.serve) before any of them starts; prometheus-client's
multiprocess mode then keeps each process's values in a file of its own there, and a scrape of any web process
sums the files. A process that dies leaves its file on purpose: its counts stay in the sums, so a total never
goes down. Nothing here is a per-process gauge, so a dead process leaves nothing stale behind.

The consumer read path counts through `LocalCounter`: in process memory, added to the real counter every second
and before each scrape, since a multiprocess-mode increment (a lock and a write to a memory-mapped file, about
1 µs each, three per read) would cost several per cent of a cached read.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.config import METRICS_DIR_VARIABLE

T = TypeVar("T")

FLUSH_SECONDS = 1.0

# The `_created` series (a gauge per counter) double the output for no alert's benefit; the multiprocess mode
# never shows them, so neither does a single process.
disable_created_metrics()

WORK = CollectorRegistry()

ROTATIONS = Counter(
    "keyturn_rotations",
    "Rotation attempts (every attempt, a scheduled one that will be retried included), by outcome.",
    ["type", "outcome", "trigger"],
    registry=WORK,
)
ROTATION_SECONDS = Histogram(
    "keyturn_rotation_duration_seconds",
    "Time from the start of a rotation attempt (mint) to its outcome (published, or failed).",
    ["type"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=WORK,
)
REVOCATION_FAILURES = Counter(
    "keyturn_revocation_failures", "Failed attempts to revoke a queued key.", ["provider"], registry=WORK
)
PROVIDER_REQUESTS = Counter(
    "keyturn_provider_requests",
    "Calls to a provider's key API, by status class (2xx, 4xx, 5xx; `error`: no HTTP answer).",
    ["provider", "operation", "status_class"],
    registry=WORK,
)
PROVIDER_SECONDS = Histogram(
    "keyturn_provider_request_seconds",
    "Duration of calls to a provider's key API.",
    ["provider", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=WORK,
)
SECRET_READS = Counter(
    "keyturn_secret_reads",
    "Consumer secret reads, by API version and HTTP status.",
    ["api", "result"],
    registry=WORK,
)
READ_CACHE_HITS = Counter("keyturn_read_cache_hits", "Read-cache lookups answered without the database.", registry=WORK)
READ_CACHE_MISSES = Counter("keyturn_read_cache_misses", "Read-cache lookups that read the database.", registry=WORK)
LOGIN_FAILURES = Counter("keyturn_login_failures", "Refused logins, by reason.", ["reason"], registry=WORK)


class LocalCounter:
    """Counts for `counter` kept in this process's memory until `flush()` adds them to it.

    `incrementer(*labels)` hands out a callable that counts one for those labels: an `itertools.count` advanced
    by `next`, which the interpreter does atomically, so any thread may count without a lock (about 0.1 µs)."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, ...], tuple[itertools.count, list[int]]] = {}  # labels -> (count, [flushed])
        _local.append(self)

    def incrementer(self, *labels: str) -> Callable[[], object]:
        with self._lock:
            if labels not in self._counts:
                self._counts[labels] = (itertools.count(1), [0])
            return functools.partial(next, self._counts[labels][0])

    def flush(self) -> None:
        with self._lock:
            counts = list(self._counts.items())
        for labels, (count, flushed) in counts:
            reached = int(repr(count)[len("count(") : -1]) - 1  # what the count shows, without advancing it
            if reached > flushed[0]:
                (self._counter.labels(*labels) if labels else self._counter).inc(reached - flushed[0])
                flushed[0] = reached


_local: list[LocalCounter] = []
SECRET_READS_LOCAL = LocalCounter(SECRET_READS)
READ_CACHE_HIT = LocalCounter(READ_CACHE_HITS).incrementer()
READ_CACHE_MISS = LocalCounter(READ_CACHE_MISSES).incrementer()


def flush() -> None:
    for counter in _local:
        counter.flush()


_flusher_lock = threading.Lock()
_flusher: threading.Thread | None = None


def start_flushing() -> None:
    """Flush the local counts every second, and once more as the process exits (idempotent)."""
    global _flusher
    with _flusher_lock:
        if _flusher is not None:
            return
        _flusher = threading.Thread(target=_flush_forever, name="keyturn-metrics-flush", daemon=True)
        _flusher.start()
    atexit.register(flush)


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        flush()


def status_class(status: int | None) -> str:
    return "error" if status is None else f"{status // 100}xx"


def provider_call(provider: str, operation: str, call: Callable[[], T]) -> T:
    """Run one provider call, counted and timed. A failure's class is its HTTP status, read from the exception's
    `status` (a ProviderError's), or `error` when there was no HTTP answer."""
    started = time.perf_counter()
    status: int | None = 200
    try:
        return call()
    except Exception as exc:
        status = getattr(exc, "status", None)
        raise
    finally:
        PROVIDER_SECONDS.labels(provider, operation).observe(time.perf_counter() - started)
        PROVIDER_REQUESTS.labels(provider, operation, status_class(status)).inc()


def rotation_attempt(rotation_type: str, *, outcome: str, trigger: str, seconds: float) -> None:
    ROTATIONS.labels(rotation_type, outcome, trigger).inc()
    ROTATION_SECONDS.labels(rotation_type).observe(seconds)


def multiprocess_dir() -> str | None:
    return os.environ.get(METRICS_DIR_VARIABLE) or None


class _Sources:
    def __init__(self, sources: Iterable[Collector]) -> None:
        self._sources = list(sources)

    def collect(self):
        for source in self._sources:
            yield from source.collect()


def work_collector() -> Collector:
    """This process's work metrics, or every process's under serve's multiprocess directory."""
    flush()
    path = multiprocess_dir()
    return MultiProcessCollector(None, path) if path is not None else WORK


def scrape(*extra: Collector) -> bytes:
    """The text exposition of the work metrics and `extra` collectors (the state read from the database)."""
    from prometheus_client import generate_latest

    return generate_latest(_Sources([work_collector(), *extra]))
