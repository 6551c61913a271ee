"""infisical-python (`infisical_client`, the Rust-based SDK, pinned in pyproject.toml) against a real keyturn server
on loopback: universal-auth login, read by name, list, a rotation seen on a later read, a refused login and a read
outside the identity's scope.

Its HTTP client is Rust (reqwest) inside the wheel, which parses keyturn's JSON into its own structs, and its calls
hold the GIL while they wait: so it runs in a process of its own (tests/sdk/infisical_python_client.py), or it would
stall the server thread it is waiting for.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sdk.live import ClientProcess, client_env, read_until

DRIVER = Path(__file__).resolve().parent / "infisical_python_client.py"
ROOT = DRIVER.parents[2]


def _start(env: dict[str, str], log: Path) -> ClientProcess:
    return ClientProcess([sys.executable, str(DRIVER)], cwd=ROOT, env=env, log=log)


@pytest.fixture
def rust_client(server_url, service, tmp_path) -> Iterator[ClientProcess]:
    # No trailing slash: this SDK appends `/api/...` to the site URL as given, and with one its login fails
    # ("Failed to authenticate, did you provide the correct site URL?"); the README's recipe says so.
    client = _start(client_env(server_url.rstrip("/"), service), tmp_path / "client.log")
    yield client
    client.close()


def test_infisical_python_logs_in_reads_lists_and_sees_a_rotation(rust_client, service, rotate):
    first = rust_client("get")
    assert first["ok"], first
    secret = first["secret"]
    assert (secret["secret_key"], secret["version"], secret["type"]) == (service.secret_name, 1, "shared")
    assert (secret["workspace"], secret["environment"]) == (service.project_id, service.environment)
    assert secret["secret_path"] == service.secret_path
    assert secret["secret_value"].startswith("sk-or-v1-")

    listed = rust_client("list")
    assert listed["ok"], listed
    assert [(s["secret_key"], s["secret_value"]) for s in listed["secrets"]] == [
        (service.secret_name, secret["secret_value"])
    ]

    rotate()
    after = read_until(lambda: rust_client("get"), lambda answer: answer["ok"] and answer["secret"]["version"] > 1)
    assert after["ok"], after
    assert after["secret"]["version"] > secret["version"]
    assert after["secret"]["secret_value"] != secret["secret_value"]


def test_infisical_python_login_with_a_wrong_secret_fails_with_keyturns_message(server_url, service, tmp_path):
    env = client_env(server_url.rstrip("/"), service, client_secret="not-the-secret")
    client = _start(env, tmp_path / "client.log")
    try:
        answer = client("get")
        assert answer["ok"] is False and "Invalid credentials" in answer["message"], answer
    finally:
        client.close()


def test_infisical_python_read_outside_the_scope_is_refused(server_url, service, tmp_path):
    env = {
        **client_env(server_url.rstrip("/"), service),
        "INFISICAL_ENVIRONMENT": "dev",
    }  # the identity may read prod only
    client = _start(env, tmp_path / "client.log")
    try:
        answer = client("get")
        assert answer["ok"] is False and "You are not allowed to" in answer["message"], answer
    finally:
        client.close()
