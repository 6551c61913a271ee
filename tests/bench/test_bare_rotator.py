"""The rotation bench's baseline, bench/_bare_rotator.py: a first round makes 2 calls per rotation, a steady round
3, and what it seals in its table are keys that work at the provider (the ones two generations back are revoked)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import create_engine, select

from bench._bare_rotator import bare_rotation, unseal

ROOT = Path(__file__).resolve().parents[2]
N = 20


def run_bare(command: str, *, url: str, openrouter, key_file: Path, root_key: bytes) -> dict:
    argv = [sys.executable, "-m", "bench._bare_rotator", command, "--database-url", url, "--base-url"]
    argv += [openrouter.base_url, "--management-key-file", str(key_file), "--n", str(N)]
    env = {**os.environ, "BARE_ROOT_KEY": base64.b64encode(root_key).decode()}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_first_round_mints_and_verifies_and_steady_round_also_revokes_two_generations_back(openrouter, tmp_path):
    key_file = tmp_path / "management.key"
    key_file.write_text(openrouter.create_management_key())
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    root_key = os.urandom(32)
    bare = {"url": url, "openrouter": openrouter, "key_file": key_file, "root_key": root_key}

    setup = run_bare("setup", **bare)
    first = run_bare("rotate", **bare)
    first_keys = sealed_keys(url, root_key)
    steady = run_bare("rotate", **bare)
    steady_keys = sealed_keys(url, root_key)

    assert (setup["calls"], setup["creates"]) == (N, N)
    assert (first["n"], first["calls"], first["creates"], first["revokes"]) == (N, 2 * N, N, 0)
    assert (steady["n"], steady["calls"], steady["creates"], steady["revokes"]) == (N, 3 * N, N, N)
    for result in (first, steady):
        assert result["cpu_s"] > 0 and result["wall_s"] > 0 and result["peak_rss_mib"] > 0
    assert len(openrouter.request_log) == N + 2 * N + 3 * N
    assert Counter((method, status) for method, _, status in openrouter.request_log) == {
        ("POST", 201): 3 * N,
        ("GET", 200): 2 * N,
        ("DELETE", 200): N,
    }
    assert openrouter.create_count == 3 * N
    assert {g for g, _ in first_keys.values()} == {2} and {g for g, _ in steady_keys.values()} == {3}
    assert all(openrouter.key_works(key) for _, key in steady_keys.values())
    assert all(openrouter.key_works(key) for _, key in first_keys.values())  # one generation back: kept
    assert len(openrouter.live_keys()) == 2 * N  # the setup's keys, two generations back, were revoked


def sealed_keys(url: str, root_key: bytes) -> dict[int, tuple[int, str]]:
    """Each row's generation and its key, unsealed with the rotator's root key (bound to the row)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(bare_rotation)).all()
    finally:
        engine.dispose()
    cipher = AESGCM(root_key)
    return {row.id: (row.generation, unseal(cipher, row.sealed, row.id)) for row in rows}
