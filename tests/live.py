"""Real processes on loopback for end-to-end tests: the OpenRouter emulator and `keyturn serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def emulator_process(management_key_file: Path) -> Iterator[str]:
    """The OpenRouter emulator as its own process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators",
            "openrouter",
            "--port",
            str(port),
            "--management-key-file",
            str(management_key_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in process.stdout.readline()
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def keyturn_server(env: dict[str, str | None], cwd: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """Migrate, then run `keyturn serve` with `env` (None removes a variable) on a free port; yields
    (base URL, process). The process's stderr (its log) is readable after the block."""
    port = free_port()
    merged = {**os.environ, **env, "KEYTURN_PORT": str(port)}
    env = {name: value for name, value in merged.items() if value is not None}
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, cwd=cwd, check=True, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "keyturn exited during start-up"
            try:
                if httpx.get(f"{url}/api/status", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "keyturn did not start"
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
