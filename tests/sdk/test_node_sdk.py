"""The official Node SDK (`@infisical/sdk`, pinned in tests/sdk/node/package-lock.json) against a real keyturn server
on loopback: universal-auth login, read by name, list, a rotation seen on a later read, a refused login, and a read
over its budget ridden out by the SDK's own 429 retries.

The SDK runs in `node`, driven a command at a time through tests/sdk/node/client.mjs. `npm ci` installs it once per
test session. Without `node` (20 or later) and `npm`, or when the install fails, these tests skip with the reason,
unless KEYTURN_TEST_NODE_REQUIRED=1 (set by .ci/run), in which case they fail.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sdk.live import ClientProcess, client_env, read_until

NODE_DIR = Path(__file__).resolve().parent / "node"
REQUIRED = os.environ.get("KEYTURN_TEST_NODE_REQUIRED") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"the Node SDK tests are required (KEYTURN_TEST_NODE_REQUIRED=1) but {reason}")
    pytest.skip(f"Node SDK tests skipped: {reason}")


def _installed() -> bool:
    """npm ci writes node_modules/.package-lock.json last: it is there, and newer than the lock, once installed."""
    hidden_lock = NODE_DIR / "node_modules" / ".package-lock.json"
    return hidden_lock.exists() and hidden_lock.stat().st_mtime >= (NODE_DIR / "package-lock.json").stat().st_mtime


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with the pinned SDK installed beside client.mjs."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("`node` and `npm` are not both on PATH")
    assert node is not None and npm is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        _unavailable(f"@infisical/sdk needs node 20 or later, found {version}")
    # One install at a time: pytest-xdist runs a session per worker.
    with open(Path(tempfile.gettempdir()) / "keyturn-node-sdk-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed():
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600
            )
            if result.returncode != 0:
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                _unavailable(f"`npm ci` failed in {NODE_DIR}: {last}")
    return node


def _start(node: str, env: dict[str, str], log: Path) -> ClientProcess:
    return ClientProcess([node, "client.mjs"], cwd=NODE_DIR, env=env, log=log)


@pytest.fixture
def node_client(node, server_url, service, tmp_path) -> Iterator[ClientProcess]:
    client = _start(node, client_env(server_url, service), tmp_path / "node.log")
    yield client
    client.close()


def test_node_sdk_logs_in_reads_lists_and_sees_a_rotation(node_client, service, rotate):
    assert node_client.started == {"ready": True}
    first = node_client("get")
    assert first["ok"], first
    secret = first["secret"]
    assert (secret["secretKey"], secret["version"], secret["type"]) == (service.secret_name, 1, "shared")
    assert (secret["workspace"], secret["environment"]) == (service.project_id, service.environment)
    assert secret["secretValue"].startswith("sk-or-v1-")

    listed = node_client("list")
    assert listed["ok"], listed
    assert [(s["secretKey"], s["secretValue"]) for s in listed["secrets"]] == [
        (service.secret_name, secret["secretValue"])
    ]

    rotate()
    after = read_until(lambda: node_client("get"), lambda answer: answer["ok"] and answer["secret"]["version"] > 1)
    assert after["ok"], after
    assert after["secret"]["version"] > secret["version"]
    assert after["secret"]["secretValue"] != secret["secretValue"]
    assert after["secret"]["updatedAt"] >= secret["updatedAt"]


def test_node_sdk_login_with_a_wrong_secret_is_a_401(node, server_url, service, tmp_path):
    client = _start(node, client_env(server_url, service, client_secret="not-the-secret"), tmp_path / "node.log")
    try:
        assert client.started["ok"] is False, client.started
        assert client.started["error"] == "InfisicalSDKRequestError"  # the SDK read keyturn's error body
        assert client.started["message"].endswith("[StatusCode=401] Invalid credentials"), client.started
        assert client.process.wait(timeout=10) == 1
    finally:
        client.close()


@pytest.mark.parametrize(
    "settings",
    [{"rate_limit_reads_burst": 2, "rate_limit_reads_per_second": 1.0}],
    indirect=True,
    ids=["read-budget-2-at-1-per-second"],
)
def test_node_sdk_retries_a_429_from_the_read_budget_and_reads(node_client):
    """The Node SDK retries a 429 after about 1, 2, 4, 8 s (consumer §8): keyturn's refusal is one it recognises."""
    assert node_client("get")["ok"] and node_client("list")["ok"]  # the burst
    third = node_client("get")  # refused at first; the bucket refills one read a second
    assert third["ok"], third
    assert third["ms"] >= 700, third  # it waited at least one retry (1 s, minus the SDK's 20 % jitter)
