"""The admin token: loaded once at start-up (app.bootstrap), compared in constant time."""

from __future__ import annotations

import hmac

_admin_token: str | None = None


def install_admin_token(token: str) -> None:
    global _admin_token
    _admin_token = token


def is_admin_token(candidate: str) -> bool:
    if _admin_token is None:
        return False
    return hmac.compare_digest(candidate.encode(), _admin_token.encode())


def admin_binding(key: bytes) -> str | None:
    """An HMAC of the admin token under `key` (a console session's cookie value), or None when no token is
    installed: a session stores it so that a new admin token ends every admin session."""
    if _admin_token is None:
        return None
    return hmac.new(key, _admin_token.encode(), "sha256").hexdigest()
