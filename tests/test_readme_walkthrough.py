"""The README's curl walkthrough works as written: its shell blocks run against a real keyturn server and
the OpenRouter emulator, both on free loopback ports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.factories import ROOT, emulator_process, keyturn_server

pytestmark = pytest.mark.skipif(not (shutil.which("jq") and shutil.which("curl")), reason="needs jq and curl")


def walkthrough_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Walkthrough with curl", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def test_readme_walkthrough_runs_as_written(tmp_path):
    start_block, *steps = walkthrough_blocks()
    assert "make run" in start_block and len(steps) >= 4
    key_file = tmp_path / ".keyturn-mgmt-key"
    with emulator_process(key_file) as openrouter_url:
        env = {
            "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/.keyturn/keyturn.db",
            "KEYTURN_OPENROUTER_BASE_URL": openrouter_url,
            "KEYTURN_WORKER": "off",
            # the walkthrough reads the generated admin token from ./.keyturn/admin-token
            "KEYTURN_ADMIN_TOKEN": None,
            "KEYTURN_ROOT_KEY": None,
            "KEYTURN_ROOT_KEY_FILE": None,
        }
        with keyturn_server(env, tmp_path) as (url, server):
            script = "set -euo pipefail\n" + "\n".join(steps).replace("H=http://127.0.0.1:8080", f"H={url}")
            result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        server_log = server.stderr.read()
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"credentials": {}' in out
    assert '"statusCode": 401' in out  # the bad management key
    assert re.search(r"^2 active billing-api-\d{8}-g2-", out, flags=re.M)
    assert re.search(r"^1 inactive billing-api-\d{8}-g1-", out, flags=re.M)
    assert '"secretKey": "OPENROUTER_API_KEY"' in out and '"version": 2' in out
    management_key = key_file.read_text().strip()
    assert management_key not in out and management_key not in server_log
