"""The audit log writer. Other code calls `record(...)` inside its own transaction: one cheap insert.

Metadata is filtered here, so no caller can store a secret by accident: keys that name a secret value,
token, password, hash or credential are dropped (ids, prefixes, names and paths are kept).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from sqlalchemy import insert
from sqlmodel import Session

from app import clock
from app.models.base import new_id
from app.models.tables import AUDIT_LOG

_SENSITIVE = re.compile(r"secret|token|password|passwd|apikey|api_key|credential|hash|value|key$", re.I)
_SAFE_SUFFIX = re.compile(r"(id|ids|prefix|name|names|path|paths|type|count|mapping|ttl|limit|ips|uses)$", re.I)
_MAX_STRING = 512


class Actor(Protocol):
    """Who did it: a caller (app.auth.principal.Principal) names itself and its IP."""

    @property
    def actor(self) -> str: ...

    @property
    def client_ip(self) -> str | None: ...


def _clean(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v, depth + 1) for k, v in value.items() if not is_sensitive_key(str(k))}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in list(value)[:100]]
    if isinstance(value, str):
        return value[:_MAX_STRING]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:_MAX_STRING]


def is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE.search(key)) and not _SAFE_SUFFIX.search(key)


_INSERT = insert(AUDIT_LOG)  # one statement object, so its cache key is computed once


def record(
    session: Session,
    *,
    actor: Actor | str,
    event: str,
    project_id: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    metadata: dict | None = None,
    ip_address: str | None = None,
) -> None:
    """Write one audit row in the caller's transaction, by one Core INSERT (no ORM object, no flush): the
    caller's commit keeps it, its rollback drops it. The IP is the actor's, unless `ip_address` names another
    (a batched read's caller)."""
    if not isinstance(actor, str):
        ip_address = ip_address or actor.client_ip
        actor = actor.actor
    session.execute(
        _INSERT,
        {
            "id": new_id(),
            "created_at": clock.now(),
            "actor": actor,
            "event": event,
            "project_id": project_id,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "ip_address": ip_address,
            "metadata": _clean(metadata or {}),
        },
    )
