"""Delete access-token rows that can never authenticate again: revoked ones, and ones expired for a while.

External Secrets Operator logs in and revokes its token on every refresh of every store (clients §8), so
without this the token table grows by a row per refresh forever. An expired row is kept for an hour, so a
client presenting it in that time still hears "expired" rather than "not found"; a revoked row answers "not
found" either way. Each call deletes a bounded batch (the worker calls it on every poll), and deletes nothing,
so announces nothing to the read caches, when there is nothing to purge.
"""

from __future__ import annotations

from sqlalchemy import delete, func, or_
from sqlmodel import col, select

from app import db
from app.db import unit_of_work
from app.models import AccessToken

BATCH = 1000
EXPIRED_KEPT_SECONDS = 3600


def purge_dead_tokens(limit: int = BATCH) -> int:
    """Delete up to `limit` revoked or long-expired token rows; returns how many were deleted."""
    kept_after = db.now(-EXPIRED_KEPT_SECONDS)
    renewed_or_created = func.coalesce(AccessToken.last_renewed_at, AccessToken.created_at)
    dead = or_(
        col(AccessToken.is_revoked) == True,  # noqa: E712
        db.plus_seconds(AccessToken.created_at, AccessToken.max_ttl) < kept_after,
        db.plus_seconds(renewed_or_created, AccessToken.ttl) < kept_after,
    )
    with unit_of_work() as session:
        ids = list(session.exec(select(AccessToken.id).where(dead).limit(limit)).all())
        if ids:
            session.execute(delete(AccessToken).where(col(AccessToken.id).in_(ids)))
    return len(ids)
