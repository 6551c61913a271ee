"""read cache change feed: the counter table and the triggers that announce changes to cached reads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa

from alembic import op
from app.reads import change_feed_schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keyturn_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Idempotent; a later migration that rebuilds a watched table (SQLite batch mode) must call it again.
    change_feed_schema.install(op.get_bind())


def downgrade() -> None:
    change_feed_schema.uninstall(op.get_bind())
