"""rotation revocation policy

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

- `revocation_*` on `secret_rotation`: each rotation's own revocation policy (issue 12), the `revocation` block
  of the API. Existing rotations get today's behaviour: mode `scheduled`, a minimum overlap of 300 s, holds on
  (600 s quiet, at most 86400 s), keys that never expire. The server defaults stay on the columns, so a row
  written without them (an older keyturn during an upgrade) behaves the same way.
"""

import sqlalchemy as sa

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (
    sa.Column("revocation_mode", sa.String(length=16), nullable=False, server_default="scheduled"),
    sa.Column("revocation_min_overlap_seconds", sa.Integer(), nullable=False, server_default="300"),
    sa.Column("revocation_hold_while_in_use", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("revocation_quiet_seconds", sa.Integer(), nullable=False, server_default="600"),
    sa.Column("revocation_max_hold_seconds", sa.Integer(), nullable=False, server_default="86400"),
    sa.Column("revocation_key_lifetime_seconds", sa.Integer(), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("secret_rotation") as batch_op:
        for column in COLUMNS:
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("secret_rotation") as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column.name)
