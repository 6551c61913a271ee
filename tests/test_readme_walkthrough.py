"""The README's curl walkthrough works as written: its shell blocks run against a real keyturn server and
the OpenRouter emulator, both on free loopback ports."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not (shutil.which("jq") and shutil.which("curl")), reason="needs jq and curl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def walkthrough_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Walkthrough with curl", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "keyturn exited during start-up"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("keyturn did not start")


def test_readme_walkthrough_runs_as_written(tmp_path):
    start_block, *steps = walkthrough_blocks()
    assert "make run" in start_block and len(steps) >= 4
    api_port, emulator_port = free_port(), free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators", "openrouter", "--port", str(emulator_port),
         "--management-key-file", str(tmp_path / ".keyturn-mgmt-key")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert "listening" in emulator.stdout.readline()
    env = {**os.environ, "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/.keyturn/keyturn.db",
           "KEYTURN_OPENROUTER_BASE_URL": f"http://127.0.0.1:{emulator_port}/api/v1",
           "KEYTURN_PORT": str(api_port), "KEYTURN_WORKER": "off"}
    for name in ("KEYTURN_ADMIN_TOKEN", "KEYTURN_ROOT_KEY", "KEYTURN_ROOT_KEY_FILE"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(f"http://127.0.0.1:{api_port}/api/status", server)
        script = "set -euo pipefail\n" + "\n".join(steps).replace(
            "H=http://127.0.0.1:8080", f"H=http://127.0.0.1:{api_port}")
        result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert '"credentials": {}' in out
        assert '"statusCode": 401' in out  # the bad management key
        assert re.search(r"^2 active billing-api-\d{8}-g2-", out, flags=re.M)
        assert re.search(r"^1 inactive billing-api-\d{8}-g1-", out, flags=re.M)
        assert '"secretKey": "OPENROUTER_API_KEY"' in out and '"version": 2' in out
        management_key = (tmp_path / ".keyturn-mgmt-key").read_text().strip()
        assert management_key not in out
    finally:
        server.terminate()
        emulator.terminate()
        _, server_log = server.communicate(timeout=30)
        emulator.wait(timeout=30)
    assert management_key not in server_log
