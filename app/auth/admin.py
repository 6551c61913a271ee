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
