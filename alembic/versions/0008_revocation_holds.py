"""revocation holds, supersession and key lifetime

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

- `rotation_credential`: when a key was superseded, when its revocation was first due without a hold (the hold
  clock), since when and why it is held, the provider usage baseline, the provider's last use, and the key's
  expiry (issue 12).
- `secret_rotation.expiry_due_at`: when the active key's expiry makes the rotation due.

Existing rows: a superseded key's `superseded_at` is the publish time of the next generation; a queued key's
`revoke_due_at` is its current not-before, so its hold clock starts where its revocation was already due.
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CREDENTIAL_COLUMNS = (
    sa.Column("superseded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("revoke_due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("held_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("hold_reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
    sa.Column("usage_baseline", sa.Float(), nullable=True),
    sa.Column("usage_baseline_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("provider_last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
)

BACKFILL_SUPERSEDED = (
    "UPDATE rotation_credential SET superseded_at = (SELECT MIN(n.published_at) FROM rotation_credential n"
    " WHERE n.rotation_id = rotation_credential.rotation_id AND n.generation > rotation_credential.generation"
    " AND n.published_at IS NOT NULL)"
    " WHERE published_at IS NOT NULL AND state IN ('inactive', 'revoking', 'revoked')"
)
BACKFILL_DUE = "UPDATE rotation_credential SET revoke_due_at = revoke_not_before WHERE state = 'revoking'"


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy), as 0006: cheap on both databases and nothing to rebuild.
    for column in CREDENTIAL_COLUMNS:
        op.add_column("rotation_credential", column)
    op.execute(BACKFILL_SUPERSEDED)
    op.execute(BACKFILL_DUE)
    op.add_column("secret_rotation", sa.Column("expiry_due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_index(op.f("ix_secret_rotation_expiry_due_at"), "secret_rotation", ["expiry_due_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_secret_rotation_expiry_due_at"), table_name="secret_rotation")
    with op.batch_alter_table("secret_rotation") as batch_op:
        batch_op.drop_column("expiry_due_at")
    with op.batch_alter_table("rotation_credential") as batch_op:
        for column in reversed(CREDENTIAL_COLUMNS):
            batch_op.drop_column(column.name)
