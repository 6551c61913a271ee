"""credential copies and negative scans

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

- `copy_number`: reconciliation can find several keys under one generation's name (a create that was repeated
  on the way); each extra key becomes a row of its own (copy 1, 2, ...) so it is queued and revoked. The unique
  constraint moves from (rotation_id, generation) to (rotation_id, generation, copy_number).
- `negative_scans`: how many spaced listings in a row missed a pending intent's key; abandoning takes several.
"""

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NEW_UNIQUE = "uq_rotation_credential_generation_copy"
# 0001 left the old constraint unnamed: PostgreSQL named it itself; on SQLite the batch copy names it by convention.
SQLITE_NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
OLD_UNIQUE = {
    "postgresql": "rotation_credential_rotation_id_generation_key",
    "sqlite": "uq_rotation_credential_rotation_id_generation",
}


def _old_unique() -> str:
    return OLD_UNIQUE[op.get_bind().dialect.name]


def upgrade() -> None:
    with op.batch_alter_table("rotation_credential", naming_convention=SQLITE_NAMING) as batch_op:
        batch_op.add_column(sa.Column("copy_number", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("negative_scans", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint(_old_unique(), type_="unique")
        batch_op.create_unique_constraint(NEW_UNIQUE, ["rotation_id", "generation", "copy_number"])


def downgrade() -> None:
    op.execute("DELETE FROM rotation_credential WHERE copy_number > 0")
    with op.batch_alter_table("rotation_credential", naming_convention=SQLITE_NAMING) as batch_op:
        batch_op.drop_constraint(NEW_UNIQUE, type_="unique")
        batch_op.create_unique_constraint(_old_unique(), ["rotation_id", "generation"])
        batch_op.drop_column("negative_scans")
        batch_op.drop_column("copy_number")
