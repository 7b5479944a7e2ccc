"""outbox: an index on (state, id), so a send job claims its batch of due rows in id order
without reading every queued row (#21)

Revision ID: claim1
Revises: why1
"""

from alembic import op


revision = "claim1"
down_revision = "why1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_state_id", ["state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_id")
