"""console sessions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

- `console_session`: one row per console sign-in, keyed by the SHA-256 of its cookie (issue 15).
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_session",
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("access_token_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("admin_binding", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["access_token_id"], ["identity_access_token.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index(op.f("ix_console_session_access_token_id"), "console_session", ["access_token_id"], unique=False)
    op.create_index(op.f("ix_console_session_last_seen_at"), "console_session", ["last_seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_console_session_last_seen_at"), table_name="console_session")
    op.drop_index(op.f("ix_console_session_access_token_id"), table_name="console_session")
    op.drop_table("console_session")
