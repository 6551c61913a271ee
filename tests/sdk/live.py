"""Helpers of the real-client tests (their fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Service:
    client_id: str
    client_secret: str
    project_id: str
    rotation_id: str
    environment: str = "prod"
    secret_path: str = "/openrouter"
    secret_name: str = "OPENROUTER_API_KEY"


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def read_until(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 2.0) -> T:
    """Read until `done` holds of the answer, or `timeout` s have passed (the last answer either way): on PostgreSQL
    the read cache hears of a rotation by NOTIFY, which a loaded machine may deliver after the next read."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.02)


class ClientProcess:
    """A real client as a service runs it, in a process of its own: started with the service's settings in its
    environment, it logs in and prints one JSON line; then it answers each command written to its stdin (`get`,
    `list`) with one JSON line. A process of its own also keeps a client that blocks while holding the GIL (the
    Rust-based SDK) from stalling the server thread of the test."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], log: Path, answer_seconds: float = 30):
        self.log = log
        self.answer_seconds = answer_seconds
        self._stderr = open(log, "w")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.started = self._answer()

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], self.answer_seconds)
        line = self.process.stdout.readline() if readable else ""
        assert line, f"no answer from the client; its log: {self.log.read_text()[-2000:]}"
        return json.loads(line)

    def __call__(self, command: str) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


def client_env(server_url: str, service: Service, client_secret: str | None = None) -> dict[str, str]:
    """The settings a client process reads: where keyturn is, its credentials, and the secret to read."""
    return {
        "INFISICAL_SITE_URL": server_url,
        "INFISICAL_CLIENT_ID": service.client_id,
        "INFISICAL_CLIENT_SECRET": service.client_secret if client_secret is None else client_secret,
        "INFISICAL_PROJECT_ID": service.project_id,
        "INFISICAL_ENVIRONMENT": service.environment,
        "INFISICAL_SECRET_PATH": service.secret_path,
        "INFISICAL_SECRET_NAME": service.secret_name,
    }
