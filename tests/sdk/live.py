"""Helpers of the real-client tests (their fixtures are in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
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
