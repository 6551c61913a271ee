"""What idle project-event subscribers cost one web process (issue 13): memory, CPU and database work.

    .venv/bin/python bench/sse_subscribers.py [--subscribers 1000] [--idle-seconds 20]

`keyturn serve` runs as one web process (KEYTURN_WEB_WORKERS=1) on PostgreSQL when KEYTURN_TEST_POSTGRES_URL is set
(a scratch database, dropped at the end), else SQLite in a temporary directory, seeded as bench/login_flood.py
seeds it (a project, a secret in `prod`, a viewer token). The per-caller stream limit is raised so one token can
hold every stream. One stream is opened and closed first, so the baseline process has loaded the events code.

Baseline, in the same run: the server's resident memory, and its CPU time and the database's committed
transactions over `--idle-seconds`, with no subscriber. Then `--subscribers` streams are opened (raw sockets from
one asyncio loop), each waits for its first ping, and the same figures are taken again; they are printed as ratios
against the baseline. Last, one change to the secret is committed from outside the server and the time until
every stream has its event is printed (the fan-out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `bench` and `app` import from the checkout
    sys.path.insert(0, str(ROOT))

from bench._harness import FreshPostgres, FreshSqlite, sql_execute, sql_scalar  # noqa: E402
from bench.login_flood import Server, start_server  # noqa: E402

MIB = 1024 * 1024
PATH = "/api/v1/events/subscribe/project-events"


def _request(server: Server) -> bytes:
    body = json.dumps(
        {
            "projectId": server.project_id,
            "register": [{"event": "secret:update", "conditions": {"environmentSlug": "prod", "secretPath": "/**"}}],
        }
    ).encode()
    host = server.base.removeprefix("http://")
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {server.tokens['cached']}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Subscriber:
    """One stream on its own connection: open until closed; `event` is set when a change frame arrives."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None

    async def open(self, server: Server, request: bytes) -> None:
        host, port = server.base.removeprefix("http://").split(":")
        reader, self.writer = await asyncio.open_connection(host, int(port))
        self.writer.write(request)
        await self.writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"subscribe answered {status!r}")
        await reader.readuntil(b"event: ping\n\n")
        self._reader_task = asyncio.create_task(self._watch(reader))

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            if line.startswith(b"event: secret-manager"):
                self.event.set()

    def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self.writer is not None:
            self.writer.close()


def process_figures(pid: int) -> tuple[int, float]:
    """(resident bytes, CPU seconds so far) of a process, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(status["VmRSS"].split()[0]) * 1024, (int(fields[11]) + int(fields[12])) / ticks


def transactions(database_url: str) -> int | None:
    """Transactions committed in the bench database so far (PostgreSQL only)."""
    if not database_url.startswith("postgresql"):
        return None
    query = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    return int(sql_scalar(database_url, query) or 0)  # type: ignore[arg-type]


async def idle(server: Server, database_url: str, seconds: float) -> tuple[int, float, int | None]:
    """(resident bytes at the end, CPU seconds used, transactions committed) over `seconds` of idling."""
    _, cpu_before = process_figures(server.process.pid)
    xact_before = transactions(database_url)
    await asyncio.sleep(seconds)
    rss, cpu_after = process_figures(server.process.pid)
    xact_after = transactions(database_url)
    used = None if xact_before is None or xact_after is None else xact_after - xact_before - 1  # less our own read
    return rss, cpu_after - cpu_before, used


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


async def run(server: Server, database_url: str, subscribers: int, idle_seconds: float) -> None:
    request = _request(server)
    warm = Subscriber()
    await warm.open(server, request)
    warm.close()
    await asyncio.sleep(12)  # as below: its statistics land before the baseline
    base_rss, base_cpu, base_xact = await idle(server, database_url, idle_seconds)

    opened = time.monotonic()
    streams = [Subscriber() for _ in range(subscribers)]
    for start in range(0, subscribers, 100):  # in batches: a burst of 1,000 connects overflows the listen queue
        await asyncio.gather(*(s.open(server, request) for s in streams[start : start + 100]))
    took = time.monotonic() - opened
    # PostgreSQL reports an idle backend's statistics up to 10 s late: let the subscribes' own transactions land.
    await asyncio.sleep(12)
    rss, cpu, xact = await idle(server, database_url, idle_seconds)

    changed = time.monotonic()
    sql_execute(database_url, "UPDATE secret SET version = version + 1")
    await asyncio.wait_for(asyncio.gather(*(s.event.wait() for s in streams)), 30)
    fan_out = time.monotonic() - changed
    for stream in streams:
        stream.close()

    print(f"\n{subscribers} streams opened in {took:.1f} s (each waited for its first ping)")
    print(f"{'':34}{'0 streams':>12}{f'{subscribers} streams':>16}{'ratio':>9}")
    print(f"{'resident memory (MB)':34}{base_rss / MIB:12.1f}{rss / MIB:16.1f}{ratio(rss, base_rss):>9}")
    print(f"{'  of which the streams (MB)':34}{'':12}{(rss - base_rss) / MIB:16.1f}")
    print(f"{'  per stream (KB)':34}{'':12}{(rss - base_rss) / subscribers / 1024:16.1f}")
    print(f"{f'CPU over {idle_seconds:g} s idle (s)':34}{base_cpu:12.2f}{cpu:16.2f}{ratio(cpu, base_cpu):>9}")
    if xact is not None and base_xact is not None:
        print(f"{f'DB transactions over {idle_seconds:g} s idle':34}{base_xact:12d}{xact:16d}")
    print(f"one committed change reached all {subscribers} streams in {fan_out * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    postgres = os.environ.get("KEYTURN_TEST_POSTGRES_URL")
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"cpus: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as directory:
        database = FreshPostgres(postgres) if postgres else FreshSqlite(Path(directory))
        print(f"database: {'PostgreSQL' if postgres else 'SQLite'}")
        server = start_server(database.url, events_streams_per_caller=str(max(args.subscribers + 1, 5)))
        try:
            asyncio.run(run(server, database.url, args.subscribers, args.idle_seconds))
        finally:
            server.stop()
            database.drop()


if __name__ == "__main__":
    main()
