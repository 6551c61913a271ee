"""AES-256-GCM encryption at rest with a keyring of root keys.

A token is `v1:<kid>:<base64(nonce || ciphertext+tag)>`. Every ciphertext is bound, through the
associated data, to the table, column and row id it belongs to: a ciphertext copied to another row
or column fails to decrypt. The first root key encrypts; every key in the ring can decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"


class DecryptionError(Exception):
    """A token was tampered with, moved to another row, or made under an unknown key."""


def _aad(table: str, column: str, row_id: str) -> bytes:
    return f"keyturn/{VERSION}/{table}/{column}/{row_id}".encode()


class Keyring:
    def __init__(self, keys: list[tuple[str, bytes]]):
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._primary_kid = keys[0][0]
        self._primary_material = keys[0][1]
        self._ciphers = {kid: AESGCM(material) for kid, material in keys}

    def encrypt(self, plaintext: str, *, table: str, column: str, row_id: str) -> str:
        nonce = os.urandom(12)
        sealed = self._ciphers[self._primary_kid].encrypt(nonce, plaintext.encode(), _aad(table, column, row_id))
        return f"{VERSION}:{self._primary_kid}:{base64.b64encode(nonce + sealed).decode()}"

    def derive(self, purpose: str) -> bytes:
        """A MAC key for one purpose, derived from the primary root key: the same in every process that shares
        the keyring, and never an encryption key."""
        return hmac.new(self._primary_material, f"keyturn/derive/{purpose}".encode(), hashlib.sha256).digest()

    def decrypt(self, token: str, *, table: str, column: str, row_id: str) -> str:
        try:
            version, kid, payload = token.split(":", 2)
            raw = base64.b64decode(payload, validate=True)
        except ValueError:
            raise DecryptionError("malformed ciphertext") from None
        cipher = self._ciphers.get(kid)
        if version != VERSION or cipher is None or len(raw) < 12 + 16:
            raise DecryptionError(f"cannot decrypt a {version} token under key {kid!r}")
        try:
            return cipher.decrypt(raw[:12], raw[12:], _aad(table, column, row_id)).decode()
        except InvalidTag:
            raise DecryptionError("ciphertext does not belong to this row or was altered") from None


def fingerprint(value: str) -> str:
    """A stable, non-reversible id for logs and hashes (sha-256 hex)."""
    return hashlib.sha256(value.encode()).hexdigest()


_keyring: Keyring | None = None


def install_keyring(keyring: Keyring) -> None:
    global _keyring
    _keyring = keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("keyring not installed; call app.bootstrap.configure() first")
    return _keyring
