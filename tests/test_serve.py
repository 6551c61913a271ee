"""`keyturn serve` uses every core: N web processes, exactly one rotation worker beside them (restarted when it
dies), all stopped by one SIGTERM; N defaults to the CPUs the process may use, not the host's count."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.serve import available_cpus, listening_socket, reserve_port
from tests.factories import ADMIN_TOKEN, ROOT_KEY, keyturn_server

WORKER = "app.cli worker"


def children(pid: int) -> dict[int, str]:
    """The live child processes of `pid`, by pid, with their command lines (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # it exited while we looked
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def kinds(pid: int) -> tuple[list[int], list[int]]:
    """(web process pids, rotation worker pids) among the children of `pid`: web processes are forks of serve,
    with its command line."""
    tree = children(pid)
    own = command_line(pid)
    return [p for p, c in tree.items() if c == own], [p for p, c in tree.items() if c.endswith(WORKER)]


def started(pid: int, web: int, workers: int) -> tuple[list[int], list[int]]:
    """Waits until `pid` has `web` web processes and `workers` rotation workers; returns their pids."""
    wait_for(lambda: tuple(map(len, kinds(pid))) == (web, workers), 30, f"{web} web processes, {workers} workers")
    time.sleep(1)  # and nothing more starts
    return kinds(pid)


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def stop_and_check(server: subprocess.Popen, pids: list[int]) -> None:
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=40) == 0
    wait_for(lambda: not any(alive(p) for p in pids), 10, "every child to stop")


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str | None]:
    return {
        "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KEYTURN_ROOT_KEY": ROOT_KEY,
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_WORKER_POLL_SECONDS": "0.5",
        **extra,
    }


@pytest.mark.parametrize(
    ("web_workers", "worker", "expected_web", "expected_workers"),
    [("2", "embedded", 2, 1), ("1", "embedded", 0, 1), ("1", "off", 0, 0)],  # one web process serves in serve's own
)
def test_serve_starts_n_web_processes_and_one_rotation_worker(
    tmp_path, web_workers, worker, expected_web, expected_workers
):
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS=web_workers, KEYTURN_WORKER=worker)
    with keyturn_server(env, tmp_path) as (url, server):
        web, workers = started(server.pid, expected_web, expected_workers)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
            for _ in range(20):
                assert api.get("/api/status").status_code == 200
            assert api.get("/api/v1/projects").status_code == 200
        stop_and_check(server, web + workers)
    log = server.stderr.read() if server.stderr else ""
    # The worker logs its start once: no web process runs one of its own.
    assert log.count("worker started") == expected_workers, log[-3000:]


def listening_inodes(pid: int, port: int) -> set[str]:
    """The inodes of the sockets `pid` holds that listen on `port` (IPv4, from /proc)."""
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            held.add(target[len("socket:[") : -1])
    listening = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:  # 0A: LISTEN
            listening.add(fields[9])
    return held & listening


def test_each_web_process_listens_on_a_socket_of_its_own(tmp_path):
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="off")
    with keyturn_server(env, tmp_path) as (url, server):
        web, _ = started(server.pid, 2, 0)
        port = int(url.rpartition(":")[2])
        sockets = [listening_inodes(pid, port) for pid in web]
        assert all(len(held) == 1 for held in sockets) and sockets[0] != sockets[1], sockets
        assert listening_inodes(server.pid, port) == set()  # serve holds the port, and listens on nothing
        assert all(httpx.get(f"{url}/api/status").status_code == 200 for _ in range(20))
        stop_and_check(server, web)


def test_a_process_socket_shares_the_port_and_a_foreign_socket_cannot_take_it():
    with listening_socket("127.0.0.1", 0) as reserved:
        port = reserved.getsockname()[1]
        with listening_socket("127.0.0.1", port) as own:  # what each web process binds
            own.listen()
            assert own.getsockname() == ("127.0.0.1", port)
        with socket.socket() as foreign, pytest.raises(OSError) as refused:
            foreign.bind(("127.0.0.1", port))
        assert refused.value.errno == errno.EADDRINUSE


def test_web_processes_end_when_serve_is_killed(tmp_path):
    """SIGKILL leaves serve no time to stop its web processes: the kernel does (they would keep the port)."""
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="off")
    with keyturn_server(env, tmp_path) as (url, server):
        web, _ = started(server.pid, 2, 0)
        server.kill()
        server.wait()
        try:
            wait_for(lambda: not any(alive(p) for p in web), 20, "the web processes to end with serve")
        except AssertionError:
            for pid in web:  # a failed test leaves no orphan holding a port
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/api/status")


def test_a_port_where_another_server_listens_cannot_be_reserved_even_with_so_reuseport():
    """Another `keyturn serve` of this user listens with SO_REUSEPORT, as serve's own web processes do: joining it
    would split connections between the two servers, so the reservation refuses."""
    with listening_socket("127.0.0.1", 0) as other:
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError) as refused:
            reserve_port("127.0.0.1", port)
        assert refused.value.errno == errno.EADDRINUSE
    with reserve_port("127.0.0.1", port) as reserved:  # free again once it stopped listening
        assert reserved.getsockname() == ("127.0.0.1", port)


def test_a_second_serve_on_the_same_port_refuses_to_start_and_the_first_keeps_serving(tmp_path):
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    env = serve_env(first_dir, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="off")
    with keyturn_server(env, first_dir) as (url, server):
        web, _ = started(server.pid, 2, 0)
        port = url.rpartition(":")[2]
        second_env = {**os.environ, **serve_env(second_dir, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="off")}
        second = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve"],
            env={**second_env, "KEYTURN_PORT": port},
            cwd=second_dir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr, second.stderr[-2000:]
        assert all(httpx.get(f"{url}/api/status").status_code == 200 for _ in range(20))
        assert kinds(server.pid)[0] == web
        stop_and_check(server, web)


# Two web processes: serve's own loop watches the worker (serve forks, so it holds no thread); one, served in
# serve's own process: a thread does.
@pytest.mark.parametrize(("web_workers", "expected_web"), [("2", 2), ("1", 0)])
def test_a_killed_rotation_worker_is_restarted(tmp_path, web_workers, expected_web):
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS=web_workers, KEYTURN_WORKER="embedded")
    with keyturn_server(env, tmp_path) as (url, server):
        (first,) = started(server.pid, expected_web, 1)[1]
        os.kill(first, signal.SIGKILL)
        (second,) = wait_for(lambda: [p for p in kinds(server.pid)[1] if p != first], 15, "a new rotation worker")
        web, workers = started(server.pid, expected_web, 1)
        assert workers == [second]
        assert httpx.get(f"{url}/api/status").status_code == 200
        stop_and_check(server, web + workers)
    log = server.stderr.read() if server.stderr else ""
    assert f"rotation worker (pid {first}) was killed by signal 9; restarting it in" in log
    assert f"rotation worker restarted (pid {second})" in log


def test_sigterm_stops_every_child_and_exits_0(tmp_path):
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="embedded")
    with keyturn_server(env, tmp_path) as (_url, server):
        web, workers = started(server.pid, 2, 1)
        stop_and_check(server, web + workers)
    log = server.stderr.read() if server.stderr else ""
    assert "restarting" not in log  # a worker stopped by serve is not mistaken for one that died
    assert "starting another" not in log


def memory_kb(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    return {name: int(value.split()[0]) for name, value in (line.split(":") for line in lines)}


def test_web_processes_are_forks_of_a_serve_that_holds_no_thread(tmp_path):
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="embedded")
    with keyturn_server(env, tmp_path) as (url, server):
        web, workers = started(server.pid, 2, 1)
        assert all(httpx.get(f"{url}/api/status").status_code == 200 for _ in range(20))
        # Forked after serve imported and built the app: most of each one's pages are still serve's. A spawned
        # process imports it all again into pages of its own (its unique memory was 75 % of its RSS).
        for pid in web:
            memory = memory_kb(pid)
            unique = memory["Private_Clean"] + memory["Private_Dirty"]
            assert unique < memory["Rss"] / 2, (pid, memory)
        # Forking is safe only from a process without threads: serve watches the rotation worker without one.
        assert [task.name for task in Path(f"/proc/{server.pid}/task").iterdir()] == [str(server.pid)]
        stop_and_check(server, web + workers)


def test_a_killed_web_process_is_replaced_and_the_server_keeps_answering(tmp_path):
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="off")
    with keyturn_server(env, tmp_path) as (url, server):
        (killed, other), _ = started(server.pid, 2, 0)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: not alive(killed), 10, "the killed web process to go")
        assert all(httpx.get(f"{url}/api/status").status_code == 200 for _ in range(20))  # the other one answers
        (new,) = wait_for(lambda: [p for p in kinds(server.pid)[0] if p not in (killed, other)], 15, "a replacement")
        web, _ = started(server.pid, 2, 0)
        assert sorted(web) == sorted([other, new])
        with httpx.Client(base_url=url) as api:  # a connection each, so both processes take some
            assert all(api.get("/api/status", headers={"Connection": "close"}).status_code == 200 for _ in range(20))
        stop_and_check(server, web)
    log = server.stderr.read() if server.stderr else ""
    assert f"web process (pid {killed}) was killed by signal 9; starting another in" in log
    assert f"web process started (pid {new})" in log


@pytest.mark.parametrize("kind", ["web process", "rotation worker"])
def test_a_process_that_dies_of_a_fatal_signal_leaves_its_python_stack_in_the_log(tmp_path, kind):
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="embedded")
    with keyturn_server(env, tmp_path) as (_url, server):
        web, workers = started(server.pid, 2, 1)
        victim = web[0] if kind == "web process" else workers[0]
        os.kill(victim, signal.SIGBUS)
        wait_for(lambda: not alive(victim), 10, f"the {kind} to die")
        web, workers = started(server.pid, 2, 1)  # replaced
        assert victim not in web + workers
        stop_and_check(server, web + workers)
    log = server.stderr.read() if server.stderr else ""
    assert "Fatal Python error: Bus error" in log, log[-3000:]
    assert f"{kind} (pid {victim}) was killed by signal {int(signal.SIGBUS)}" in log


def test_a_web_process_killed_while_serve_stops_is_not_replaced(tmp_path):
    env = serve_env(tmp_path, KEYTURN_WEB_WORKERS="2", KEYTURN_WORKER="embedded")
    with keyturn_server(env, tmp_path) as (_url, server):
        web, workers = started(server.pid, 2, 1)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        os.kill(web[0], signal.SIGKILL)
        assert server.wait(timeout=40) == 0
        wait_for(lambda: not any(alive(p) for p in web + workers), 10, "every child to stop")
    log = server.stderr.read() if server.stderr else ""
    assert "starting another" not in log and "web process started" not in log


@pytest.mark.parametrize(
    ("affinity", "cpu_max", "expected"),
    [
        ({0, 1, 2, 3}, None, 4),  # no cgroup v2 file: affinity alone
        ({0, 1, 2, 3}, "max 100000\n", 4),  # no quota
        ({0, 1, 2, 3}, "150000 100000\n", 2),  # 1.5 CPUs of quota: rounded up
        ({0, 1, 2, 3}, "50000 100000\n", 1),
        ({2}, "400000 100000\n", 1),  # pinned to one CPU: the quota does not raise it
        ({0, 1}, "garbage\n", 2),
    ],
)
def test_available_cpus_honours_affinity_and_the_cgroup_quota(tmp_path, monkeypatch, affinity, cpu_max, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: affinity)
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert available_cpus(path) == expected


def test_the_workers_option_overrides_the_setting(monkeypatch):
    import app.serve
    from app import cli

    seen = {}
    monkeypatch.setenv("KEYTURN_WEB_WORKERS", "2")
    monkeypatch.setattr(cli, "_check_database", lambda _url: None)
    monkeypatch.setattr(app.serve, "serve", lambda settings, workers: seen.update(workers=workers))
    cli.main(["serve", "--workers", "3"])
    assert seen == {"workers": 3}
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--workers", "0"])
    assert exited.value.code == 2
