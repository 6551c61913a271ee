"""Who used the CPU during a bench round, read from /proc: the machine as a whole, and PostgreSQL's processes.

A round's CPU is shown by side, so a reader can tell whether the workers, the database, the emulator or the
machine's cores were the limit, instead of being told.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which a container's cpuset narrows), not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_seconds() -> float:
    """CPU seconds every core spent on anything but idle and I/O wait since boot (all processes, all users)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class PostgresCpu:
    """CPU of the PostgreSQL server's processes while it serves one database: the backends connected to
    `database` (their process title names it), and the server's own background processes (writer, WAL writer,
    checkpointer, autovacuum), which serve every database on the server, this one's writes included.

    `sample()` as often as convenient: a backend that exits between two samples loses what it used since the
    last one, so sample through the round, not only at its ends."""

    def __init__(self, database: str, exclude: set[int] | None = None):
        self.database = database
        self.exclude = exclude or set()
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._kind: dict[int, str] = {}
        self.sample(baseline=True)

    def _postgres_pids(self) -> dict[int, str]:
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in self.exclude:
                continue
            pid = int(entry)
            if _comm(pid) != "postgres":
                continue
            title = _cmdline(pid)
            if f" {self.database} " in title:
                found[pid] = "backends"
            elif "(" not in title and "[local]" not in title:  # not a client's backend (those name their peer)
                found[pid] = "background"
        return found

    def sample(self, baseline: bool = False) -> None:
        for pid, kind in self._postgres_pids().items():
            cpu = process_cpu_seconds(pid)
            if cpu is None:
                continue
            if pid not in self._first:
                self._first[pid] = cpu if baseline else 0.0  # a backend born during the round counts from zero
                self._kind[pid] = kind
            self._last[pid] = cpu

    def seconds(self) -> dict[str, float]:
        totals = {"backends": 0.0, "background": 0.0}
        for pid, first in self._first.items():
            totals[self._kind[pid]] += self._last.get(pid, first) - first
        return totals
