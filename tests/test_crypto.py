"""Encryption at rest: AES-256-GCM bound to table, column and row; key rotation of the root keyring."""

import base64

import pytest

from app.config import ConfigError, parse_root_keys
from app.crypto import DecryptionError, Keyring

KEY_A = ("a", b"\x0a" * 32)
KEY_B = ("b", b"\x0b" * 32)
WHERE = {"table": "app_connection", "column": "encrypted_credentials", "row_id": "row-1"}


def test_round_trip_and_no_plaintext_in_token():
    ring = Keyring([KEY_A])
    token = ring.encrypt("sk-or-v1-secret", **WHERE)
    assert "sk-or-v1-secret" not in token
    assert token.startswith("v1:a:")
    assert ring.decrypt(token, **WHERE) == "sk-or-v1-secret"


def test_same_plaintext_encrypts_differently():
    ring = Keyring([KEY_A])
    assert ring.encrypt("x", **WHERE) != ring.encrypt("x", **WHERE)


@pytest.mark.parametrize(
    "moved",
    [
        {"row_id": "row-2"},
        {"column": "encrypted_value"},
        {"table": "secret"},
    ],
)
def test_ciphertext_copied_elsewhere_fails(moved):
    ring = Keyring([KEY_A])
    token = ring.encrypt("sk-or-v1-secret", **WHERE)
    with pytest.raises(DecryptionError):
        ring.decrypt(token, **{**WHERE, **moved})


def test_tampered_ciphertext_fails():
    ring = Keyring([KEY_A])
    version, kid, payload = ring.encrypt("value", **WHERE).split(":")
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    with pytest.raises(DecryptionError):
        ring.decrypt(f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}", **WHERE)


def test_old_key_still_decrypts_after_new_key_put_first():
    old = Keyring([KEY_A]).encrypt("legacy", **WHERE)
    rotated = Keyring([KEY_B, KEY_A])
    assert rotated.decrypt(old, **WHERE) == "legacy"
    assert rotated.encrypt("new", **WHERE).startswith("v1:b:")


def test_unknown_key_id_fails():
    token = Keyring([KEY_A]).encrypt("value", **WHERE)
    with pytest.raises(DecryptionError):
        Keyring([KEY_B]).decrypt(token, **WHERE)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "empty"),
        ("k1:not-base64!!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (
            "k1:" + base64.b64encode(b"\x01" * 32).decode() + ",k1:" + base64.b64encode(b"\x02" * 32).decode(),
            "repeated",
        ),
    ],
)
def test_malformed_root_keys_are_refused_with_a_reason(raw, reason):
    with pytest.raises(ConfigError, match=reason):
        parse_root_keys(raw)


def test_bare_key_gets_default_id():
    [(kid, material)] = parse_root_keys(base64.b64encode(b"\x03" * 32).decode())
    assert kid == "k1" and material == b"\x03" * 32
