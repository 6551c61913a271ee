"""secret consumers: who read a rotation's secret, and which key generation each secret's value holds

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

- `secret.rotation_generation`: the generation of the key a rotation-owned secret's value holds, written with
  the value. Existing rotation-owned secrets take their rotation's active credential's generation (the key
  publish wrote as their value in the same transaction); null where there is none.
- `secret_consumer`: per (secret, identity) the last read of the value: when, which version and generation,
  from which address. Written in batches by the read audit.

`secret` gains its column by a plain ALTER TABLE, never a batch copy: on SQLite a copied table loses the change
feed's triggers (0003).
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BACKFILL = (
    "UPDATE secret SET rotation_generation = (SELECT MAX(c.generation) FROM rotation_credential c"
    " WHERE c.rotation_id = secret.rotation_id AND c.state = 'active')"
    " WHERE rotation_id IS NOT NULL"
)


def upgrade() -> None:
    op.add_column("secret", sa.Column("rotation_generation", sa.Integer(), nullable=True))
    op.execute(BACKFILL)
    op.create_table(
        "secret_consumer",
        sa.Column("secret_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("identity_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("rotation_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("first_read_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_read_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_read_version", sa.Integer(), nullable=False),
        sa.Column("last_read_generation", sa.Integer(), nullable=True),
        sa.Column("ip_address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(["identity_id"], ["identity.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["secret_id"], ["secret.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("secret_id", "identity_id"),
    )
    op.create_index(op.f("ix_secret_consumer_identity_id"), "secret_consumer", ["identity_id"], unique=False)
    op.create_index(op.f("ix_secret_consumer_rotation_id"), "secret_consumer", ["rotation_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_secret_consumer_rotation_id"), table_name="secret_consumer")
    op.drop_index(op.f("ix_secret_consumer_identity_id"), table_name="secret_consumer")
    op.drop_table("secret_consumer")
    op.drop_column("secret", "rotation_generation")
