"""Strong ETags for the consumer reads (clients §5.3): a keyed hash of the exact body bytes.

A hash of the body changes exactly when a byte the caller receives changes (value, version, updatedAt, a secret
added, removed or left out by a narrower scope) and never otherwise, because the bodies are deterministic. It is
keyed, so an ETag that a proxy logs cannot confirm a guess of the value in the body; the key is derived from
the primary root key, so every replica, and every restart, gives the same body the same ETag.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from app import crypto

_DIGEST_BYTES = 20  # as long as Infisical's base64 SHA-1


@lru_cache(maxsize=4)
def _key(keyring: crypto.Keyring) -> bytes:
    return keyring.derive("etag")


def etag_of(body: bytes) -> str:
    digest = hmac.new(_key(crypto.keyring()), body, hashlib.sha256).digest()[:_DIGEST_BYTES]
    return '"' + base64.b64encode(digest).decode() + '"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names `etag`: compared weakly (a `W/` on either side matches), as RFC 9110 asks."""
    if not if_none_match:
        return False
    if if_none_match == etag:  # what clients send: the ETag they were given
        return True
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
