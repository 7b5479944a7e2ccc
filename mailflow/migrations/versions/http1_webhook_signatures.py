"""webhook signatures seen (a verbatim replay makes no second lead)

Revision ID: http1
Revises: admin1
"""

import sqlalchemy as sa
from alembic import op

import mailflow.models

revision = "http1"
down_revision = "admin1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_signatures",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", mailflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_webhook_signatures_lead_id_leads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_webhook_signatures")),
    )
    with op.batch_alter_table("webhook_signatures") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_signatures_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("webhook_signatures")
