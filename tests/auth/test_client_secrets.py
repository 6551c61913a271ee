"""Client-secret hashing: slow salted argon2id, prefix, verification."""

from __future__ import annotations

from app.auth import client_secrets


def test_generate_hash_verify():
    value = client_secrets.generate()
    assert len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    stored = client_secrets.hash_secret(value)
    assert stored.startswith("$argon2id$") and value not in stored
    assert stored != client_secrets.hash_secret(value)  # salted
    assert client_secrets.verify(stored, value)
    assert not client_secrets.verify(stored, value[:-1] + ("0" if value[-1] != "0" else "1"))
    assert not client_secrets.verify("not a hash", value)
    assert client_secrets.prefix_of(value) == value[:4]
    client_secrets.burn_one_check("anything")
