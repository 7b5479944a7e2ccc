"""delivery to the installer's own tools: webhook URL and secret, outbox channel (#20)

Revision ID: hooks1
Revises: returns1
"""

from alembic import op
import sqlalchemy as sa
import mailflow.models


revision = "hooks1"
down_revision = "returns1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_url", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "webhook_secret_at", mailflow.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=16), server_default="email", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("channel")
    with op.batch_alter_table("installers", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret_at")
        batch_op.drop_column("webhook_secret")
        batch_op.drop_column("webhook_url")
