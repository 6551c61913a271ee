"""Client secrets: 32 random bytes as hex, kept only as an argon2id hash plus a 4-character prefix.

argon2id (argon2-cffi) is a slow, salted, memory-hard hash whose encoded string carries its own
parameters, so the cost can be raised later and old hashes still verify. The setting
`client_secret_hash_cost=low` makes tests fast; production keeps the library defaults.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.config import get_settings

PREFIX_LENGTH = 4


@lru_cache(maxsize=2)
def _hasher_for(cost: str) -> PasswordHasher:
    if cost == "low":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


@lru_cache(maxsize=2)
def _dummy_hash(cost: str) -> str:
    """Verified against when the client id is unknown, so a miss costs about as long as a hit."""
    return _hasher_for(cost).hash(secrets.token_hex(32))


def _cost() -> str:
    return get_settings().client_secret_hash_cost


def generate() -> str:
    return secrets.token_hex(32)


def prefix_of(value: str) -> str:
    return value[:PREFIX_LENGTH]


def hash_secret(value: str) -> str:
    return _hasher_for(_cost()).hash(value)


def verify(stored_hash: str, candidate: str) -> bool:
    try:
        return _hasher_for(_cost()).verify(stored_hash, candidate)
    except (VerificationError, InvalidHashError):
        return False


def burn_one_check(candidate: str) -> None:
    """Spend the time of one verification (an unknown client id must not answer faster)."""
    verify(_dummy_hash(_cost()), candidate)
