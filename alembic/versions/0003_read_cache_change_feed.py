"""read cache change feed: the counter table and the triggers that announce changes to cached reads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

The statements are frozen: they are exactly what this revision ran when it was written, kept here so that
editing the app (app/reads/change_feed_schema.py says what the triggers watch and why) cannot change what
this revision does. Watching another table or column takes a new migration.
"""

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# PostgreSQL: one statement-level trigger per table, which only sends NOTIFY keyturn_change.
POSTGRESQL_UPGRADE = (
    "CREATE TABLE IF NOT EXISTS keyturn_change (id INTEGER NOT NULL PRIMARY KEY, n BIGINT NOT NULL)",
    "INSERT INTO keyturn_change (id, n) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
    (
        "CREATE OR REPLACE FUNCTION keyturn_note_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_notify('keyturn_change', ''); RETURN NULL; END $$"
    ),
    'DROP TRIGGER IF EXISTS keyturn_change_secret_all ON "secret"',
    (
        'CREATE TRIGGER keyturn_change_secret_all AFTER DELETE OR UPDATE OR INSERT ON "secret" FOR EACH '
        "STATEMENT EXECUTE FUNCTION keyturn_note_change()"
    ),
    'DROP TRIGGER IF EXISTS keyturn_change_project_all ON "project"',
    (
        'CREATE TRIGGER keyturn_change_project_all AFTER DELETE OR UPDATE OF slug ON "project" FOR EACH '
        "STATEMENT EXECUTE FUNCTION keyturn_note_change()"
    ),
    'DROP TRIGGER IF EXISTS keyturn_change_environment_all ON "environment"',
    (
        "CREATE TRIGGER keyturn_change_environment_all AFTER DELETE OR UPDATE OF slug OR INSERT ON "
        '"environment" FOR EACH STATEMENT EXECUTE FUNCTION keyturn_note_change()'
    ),
    'DROP TRIGGER IF EXISTS keyturn_change_identity_membership_all ON "identity_membership"',
    (
        "CREATE TRIGGER keyturn_change_identity_membership_all AFTER DELETE OR UPDATE OR INSERT ON "
        '"identity_membership" FOR EACH STATEMENT EXECUTE FUNCTION keyturn_note_change()'
    ),
    'DROP TRIGGER IF EXISTS keyturn_change_identity_all ON "identity"',
    (
        'CREATE TRIGGER keyturn_change_identity_all AFTER DELETE OR UPDATE OF org_role ON "identity" FOR EACH '
        "STATEMENT EXECUTE FUNCTION keyturn_note_change()"
    ),
    'DROP TRIGGER IF EXISTS keyturn_change_identity_universal_auth_all ON "identity_universal_auth"',
    (
        "CREATE TRIGGER keyturn_change_identity_universal_auth_all AFTER DELETE OR UPDATE OF "
        'access_token_trusted_ips ON "identity_universal_auth" FOR EACH STATEMENT EXECUTE FUNCTION '
        "keyturn_note_change()"
    ),
    'DROP TRIGGER IF EXISTS keyturn_change_identity_access_token_all ON "identity_access_token"',
    (
        "CREATE TRIGGER keyturn_change_identity_access_token_all AFTER DELETE OR UPDATE OF is_revoked, "
        'last_renewed_at, ttl, max_ttl, num_uses_limit, token_hash ON "identity_access_token" FOR EACH '
        "STATEMENT EXECUTE FUNCTION keyturn_note_change()"
    ),
)

POSTGRESQL_DOWNGRADE = (
    'DROP TRIGGER IF EXISTS keyturn_change_secret_all ON "secret"',
    'DROP TRIGGER IF EXISTS keyturn_change_project_all ON "project"',
    'DROP TRIGGER IF EXISTS keyturn_change_environment_all ON "environment"',
    'DROP TRIGGER IF EXISTS keyturn_change_identity_membership_all ON "identity_membership"',
    'DROP TRIGGER IF EXISTS keyturn_change_identity_all ON "identity"',
    'DROP TRIGGER IF EXISTS keyturn_change_identity_universal_auth_all ON "identity_universal_auth"',
    'DROP TRIGGER IF EXISTS keyturn_change_identity_access_token_all ON "identity_access_token"',
    "DROP FUNCTION IF EXISTS keyturn_note_change()",
    "DROP TABLE IF EXISTS keyturn_change",
)

# SQLite: one row-level trigger per table and event, which bumps keyturn_change.n.
SQLITE_UPGRADE = (
    "CREATE TABLE IF NOT EXISTS keyturn_change (id INTEGER NOT NULL PRIMARY KEY, n BIGINT NOT NULL)",
    "INSERT OR IGNORE INTO keyturn_change (id, n) VALUES (1, 0)",
    "DROP TRIGGER IF EXISTS keyturn_change_secret_del",
    (
        'CREATE TRIGGER keyturn_change_secret_del AFTER DELETE ON "secret" FOR EACH ROW BEGIN UPDATE '
        "keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_secret_upd",
    (
        'CREATE TRIGGER keyturn_change_secret_upd AFTER UPDATE ON "secret" FOR EACH ROW BEGIN UPDATE '
        "keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_secret_ins",
    (
        'CREATE TRIGGER keyturn_change_secret_ins AFTER INSERT ON "secret" FOR EACH ROW BEGIN UPDATE '
        "keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_project_del",
    (
        'CREATE TRIGGER keyturn_change_project_del AFTER DELETE ON "project" FOR EACH ROW BEGIN UPDATE '
        "keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_project_upd",
    (
        'CREATE TRIGGER keyturn_change_project_upd AFTER UPDATE OF slug ON "project" FOR EACH ROW BEGIN '
        "UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_environment_del",
    (
        'CREATE TRIGGER keyturn_change_environment_del AFTER DELETE ON "environment" FOR EACH ROW BEGIN '
        "UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_environment_upd",
    (
        'CREATE TRIGGER keyturn_change_environment_upd AFTER UPDATE OF slug ON "environment" FOR EACH ROW '
        "BEGIN UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_environment_ins",
    (
        'CREATE TRIGGER keyturn_change_environment_ins AFTER INSERT ON "environment" FOR EACH ROW BEGIN '
        "UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_membership_del",
    (
        'CREATE TRIGGER keyturn_change_identity_membership_del AFTER DELETE ON "identity_membership" FOR EACH '
        "ROW BEGIN UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_membership_upd",
    (
        'CREATE TRIGGER keyturn_change_identity_membership_upd AFTER UPDATE ON "identity_membership" FOR EACH '
        "ROW BEGIN UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_membership_ins",
    (
        'CREATE TRIGGER keyturn_change_identity_membership_ins AFTER INSERT ON "identity_membership" FOR EACH '
        "ROW BEGIN UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_del",
    (
        'CREATE TRIGGER keyturn_change_identity_del AFTER DELETE ON "identity" FOR EACH ROW BEGIN UPDATE '
        "keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_upd",
    (
        'CREATE TRIGGER keyturn_change_identity_upd AFTER UPDATE OF org_role ON "identity" FOR EACH ROW BEGIN '
        "UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_universal_auth_del",
    (
        'CREATE TRIGGER keyturn_change_identity_universal_auth_del AFTER DELETE ON "identity_universal_auth" '
        "FOR EACH ROW BEGIN UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_universal_auth_upd",
    (
        "CREATE TRIGGER keyturn_change_identity_universal_auth_upd AFTER UPDATE OF access_token_trusted_ips "
        'ON "identity_universal_auth" FOR EACH ROW BEGIN UPDATE keyturn_change SET n = n + 1 WHERE id = 1; '
        "END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_access_token_del",
    (
        'CREATE TRIGGER keyturn_change_identity_access_token_del AFTER DELETE ON "identity_access_token" FOR '
        "EACH ROW BEGIN UPDATE keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
    "DROP TRIGGER IF EXISTS keyturn_change_identity_access_token_upd",
    (
        "CREATE TRIGGER keyturn_change_identity_access_token_upd AFTER UPDATE OF is_revoked, last_renewed_at, "
        'ttl, max_ttl, num_uses_limit, token_hash ON "identity_access_token" FOR EACH ROW BEGIN UPDATE '
        "keyturn_change SET n = n + 1 WHERE id = 1; END"
    ),
)

SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS keyturn_change_secret_del",
    "DROP TRIGGER IF EXISTS keyturn_change_secret_upd",
    "DROP TRIGGER IF EXISTS keyturn_change_secret_ins",
    "DROP TRIGGER IF EXISTS keyturn_change_project_del",
    "DROP TRIGGER IF EXISTS keyturn_change_project_upd",
    "DROP TRIGGER IF EXISTS keyturn_change_project_ins",
    "DROP TRIGGER IF EXISTS keyturn_change_environment_del",
    "DROP TRIGGER IF EXISTS keyturn_change_environment_upd",
    "DROP TRIGGER IF EXISTS keyturn_change_environment_ins",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_membership_del",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_membership_upd",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_membership_ins",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_del",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_upd",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_ins",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_universal_auth_del",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_universal_auth_upd",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_universal_auth_ins",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_access_token_del",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_access_token_upd",
    "DROP TRIGGER IF EXISTS keyturn_change_identity_access_token_ins",
    "DROP TABLE IF EXISTS keyturn_change",
)


def _statements(postgresql: tuple[str, ...], sqlite: tuple[str, ...]) -> tuple[str, ...]:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql
    if dialect == "sqlite":
        return sqlite
    raise RuntimeError(f"no change triggers for {dialect}")


def upgrade() -> None:
    op.create_table(
        "keyturn_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    run = op.get_bind().exec_driver_sql
    for statement in _statements(POSTGRESQL_UPGRADE, SQLITE_UPGRADE):
        run(statement)


def downgrade() -> None:
    run = op.get_bind().exec_driver_sql
    for statement in _statements(POSTGRESQL_DOWNGRADE, SQLITE_DOWNGRADE):
        run(statement)
