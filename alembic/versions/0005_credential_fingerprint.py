"""credential fingerprint per key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

- `credential_fingerprint`: which management credential answers for a key (the one that minted it, or a later
  key of the connection shown to see it). A 404 on revoke counts as revoked only under that credential, so a
  connection pointed at another account cannot turn revocations into silent leaks. Existing rows keep null:
  their minting credential was never recorded.
"""

import sqlalchemy as sa

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rotation_credential") as batch_op:
        batch_op.add_column(sa.Column("credential_fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rotation_credential") as batch_op:
        batch_op.drop_column("credential_fingerprint")
