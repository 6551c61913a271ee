"""The database triggers that announce every change a secret read depends on, as the feed expects them.

The read cache (app.reads.cache) may only serve what the database would answer now. Rather than trusting
every writer to remember an invalidation call, the database itself records each relevant change:

- SQLite: the triggers bump `keyturn_change.n`; readers compare that one integer (a local file read).
- PostgreSQL: the triggers only send `NOTIFY keyturn_change` (no shared counter row for every writer to
  queue on); readers LISTEN instead of polling.

Watched: secrets, projects, environments, memberships, and the token, UA and identity columns that end or
change access. Not watched: usage counters, login bookkeeping, audit rows, rotations' own state.

Migrations install the triggers, each with its own frozen SQL (0003 first). This module only describes
what the latest one installed, so the feed can tell whether they are all there: watching another table or
column takes a new migration, and then a change here to match it.
"""

from __future__ import annotations

CHANNEL = "keyturn_change"
TABLE = "keyturn_change"
TRIGGER_PREFIX = "keyturn_change_"

# table -> columns whose UPDATE matters (None: any update). INSERT matters only where it can widen access
# to something already cached as a value; DELETE always matters.
WATCHED: dict[str, tuple[str, ...] | None] = {
    "secret": None,
    "project": ("slug",),
    "environment": ("slug",),
    "identity_membership": None,
    "identity": ("org_role",),
    "identity_universal_auth": ("access_token_trusted_ips",),
    "identity_access_token": ("is_revoked", "last_renewed_at", "ttl", "max_ttl", "num_uses_limit", "token_hash"),
}
# Rows inserted here change what an already cached read would answer (a new secret at a listed path, a new
# membership for an org-admin flag holder...): keep them watched; new tokens and projects change nothing cached.
WATCH_INSERTS = {"secret", "environment", "identity_membership"}

# PostgreSQL has one statement-level trigger per table; SQLite one row-level trigger per table and event.
POSTGRESQL_TRIGGER_COUNT = len(WATCHED)
SQLITE_TRIGGER_COUNT = sum(2 + (table in WATCH_INSERTS) for table in WATCHED)
