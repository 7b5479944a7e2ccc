"""intake limit index and confirmation of spam declines

Revision ID: privacy1
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import mailflow.models

revision = "privacy1"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Lead status "held" needs no change: statuses are plain strings (no enum type, no check).
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "decline_confirmed_at", mailflow.models.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_sender_received", ["envelope_from", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_sender_received")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_column("decline_confirmed_at")
