"""webhooks and their outbox

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

- `webhook`: Infisical's webhooks (W1–W5), scoped to a project, an environment and a path glob; the URL and the
  signing key are sealed (keyring tokens bound to the row).
- `webhook_delivery`: the outbox, one row per (event, matching webhook), written in the transaction of the change
  it reports and sent by the worker with retries; also the delivery log.
- `rotation_credential.revocation_failure_notified_at`, `.expiry_notified_at`: when `keys.revocation-failed`
  (repeated hourly) and `keys.expiring` (once) were last queued for the key.
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CREDENTIAL_COLUMNS = (
    sa.Column("revocation_failure_notified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("expiry_notified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
)


def upgrade() -> None:
    op.create_table(
        "webhook",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("environment_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("secret_path", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("encrypted_url", sa.Text(), nullable=False),
        sa.Column("encrypted_secret_key", sa.Text(), nullable=True),
        sa.Column("is_disabled", sa.Boolean(), nullable=False),
        sa.Column("events_filter", sa.JSON(), nullable=False),
        sa.Column("last_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("last_run_error_message", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["environment_id"], ["environment.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_webhook_project_id"), "webhook", ["project_id"], unique=False)
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("webhook_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("occurred_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("give_up_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.Column("last_response_code", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("delivered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_webhook_delivery_webhook_id"), "webhook_delivery", ["webhook_id"], unique=False)
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["status", "next_attempt_at"], unique=False)
    # Plain ALTER TABLE (no batch copy), as 0006 and 0008.
    for column in CREDENTIAL_COLUMNS:
        op.add_column("rotation_credential", column)


def downgrade() -> None:
    with op.batch_alter_table("rotation_credential") as batch_op:
        for column in reversed(CREDENTIAL_COLUMNS):
            batch_op.drop_column(column.name)
    op.drop_index("ix_webhook_delivery_due", table_name="webhook_delivery")
    op.drop_index(op.f("ix_webhook_delivery_webhook_id"), table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_index(op.f("ix_webhook_project_id"), table_name="webhook")
    op.drop_table("webhook")
