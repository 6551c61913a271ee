"""Database triggers that announce every change a secret read depends on (used by a migration).

The read cache (app.reads.cache) may only serve what the database would answer now. Rather than
trusting every writer to remember an invalidation call, the database itself records each relevant change:

- SQLite: the triggers bump `keyturn_change.n`; readers compare that one integer (a local file read).
- PostgreSQL: the triggers only send `NOTIFY keyturn_change` (no shared counter row for every writer to
  queue on); readers LISTEN instead of polling.

Watched: secrets, projects, environments, memberships, and the token, UA and identity columns that end or
change access. Not watched: usage counters, login bookkeeping, audit rows, rotations' own state.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

CHANNEL = "keyturn_change"
TABLE = "keyturn_change"

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
# SQLite has one trigger per table and event.
SQLITE_TRIGGER_COUNT = sum(2 + (table in WATCH_INSERTS) for table in WATCHED)


def _trigger_name(table: str, event: str) -> str:
    return f"keyturn_change_{table}_{event}"


def install(connection: Connection) -> None:
    """Create the counter table (app.models.change_counter, if a migration has not), its row, and the triggers.
    Idempotent."""
    dialect = connection.dialect.name
    run = connection.exec_driver_sql
    if dialect == "postgresql":
        run(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER NOT NULL PRIMARY KEY, n BIGINT NOT NULL)")
        run(f"INSERT INTO {TABLE} (id, n) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
        run(
            "CREATE OR REPLACE FUNCTION keyturn_note_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); "
            "RETURN NULL; END $$"
        )
        for table, columns in WATCHED.items():
            events = ["DELETE", "UPDATE" if columns is None else f"UPDATE OF {', '.join(columns)}"]
            if table in WATCH_INSERTS:
                events.append("INSERT")
            name = _trigger_name(table, "all")
            run(f'DROP TRIGGER IF EXISTS {name} ON "{table}"')
            run(
                f'CREATE TRIGGER {name} AFTER {" OR ".join(events)} ON "{table}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION keyturn_note_change()"
            )
        return
    if dialect != "sqlite":
        raise RuntimeError(f"no change triggers for {dialect}")
    run(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER NOT NULL PRIMARY KEY, n BIGINT NOT NULL)")
    run(f"INSERT OR IGNORE INTO {TABLE} (id, n) VALUES (1, 0)")
    bump = f"BEGIN UPDATE {TABLE} SET n = n + 1 WHERE id = 1; END"
    for table, columns in WATCHED.items():
        events = {"del": "DELETE", "upd": "UPDATE" if columns is None else f"UPDATE OF {', '.join(columns)}"}
        if table in WATCH_INSERTS:
            events["ins"] = "INSERT"
        for suffix, event in events.items():
            name = _trigger_name(table, suffix)
            run(f"DROP TRIGGER IF EXISTS {name}")
            run(f'CREATE TRIGGER {name} AFTER {event} ON "{table}" FOR EACH ROW {bump}')


def uninstall(connection: Connection) -> None:
    dialect = connection.dialect.name
    run = connection.exec_driver_sql
    for table in WATCHED:
        if dialect == "postgresql":
            run(f'DROP TRIGGER IF EXISTS {_trigger_name(table, "all")} ON "{table}"')
        else:
            for suffix in ("del", "upd", "ins"):
                run(f"DROP TRIGGER IF EXISTS {_trigger_name(table, suffix)}")
    if dialect == "postgresql":
        run("DROP FUNCTION IF EXISTS keyturn_note_change()")
    run(f"DROP TABLE IF EXISTS {TABLE}")


def is_installed(connection: Connection) -> bool:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        found = connection.execute(
            text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'keyturn_change_%' AND NOT tgisinternal")
        ).scalar()
        return found == len(WATCHED)
    found = connection.execute(
        text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'keyturn_change_%'")
    ).scalar()
    return found == SQLITE_TRIGGER_COUNT
