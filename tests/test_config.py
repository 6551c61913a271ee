"""Start-up settings: generated root key and admin token are written once (0600) and reused;
a malformed root key stops start-up with one line."""

import os
import stat
import subprocess
import sys

import pytest

from app.config import ConfigError, Settings, load_admin_token, load_root_keys


def test_generates_root_key_and_admin_token_once_with_mode_0600(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/data/keyturn.db")
    first_keys, first_token = load_root_keys(settings), load_admin_token(settings)
    for name in ("root.key", "admin-token"):
        mode = stat.S_IMODE(os.stat(tmp_path / "data" / name).st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    assert load_root_keys(settings) == first_keys
    assert load_admin_token(settings) == first_token
    assert len(first_token) >= 32


@pytest.mark.parametrize("token", ["changeme", "short-token"])
def test_weak_admin_tokens_are_refused(tmp_path, token):
    with pytest.raises(ConfigError):
        load_admin_token(Settings(database_url=f"sqlite:///{tmp_path}/k.db", admin_token=token))


def test_malformed_root_key_stops_startup_with_one_line(tmp_path):
    env = {
        **os.environ,
        "KEYTURN_ROOT_KEY": "k1:bm90LTMyLWJ5dGVz",
        "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KEYTURN_ADMIN_TOKEN": "x" * 40,
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "root key 'k1' must decode to 32 bytes" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_login_limit_under_its_old_name_stops_startup_naming_the_new_one(tmp_path):
    """Read as a provider extra, the old name would silently leave the default limit in place."""
    env = {
        **os.environ,
        "KEYTURN_LOGIN_IP_BURST": "5",
        "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KEYTURN_ADMIN_TOKEN": "x" * 40,
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "KEYTURN_LOGIN_IP_BURST is now KEYTURN_RATE_LIMIT_LOGIN_IP_BURST" in result.stderr
