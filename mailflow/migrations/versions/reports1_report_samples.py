"""report samples: pool size, waiting line, outbox and job queues over time (#19)

Revision ID: reports1
Revises: users1
"""

from alembic import op
import sqlalchemy as sa
import mailflow.models


revision = "reports1"
down_revision = "users1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_samples",
        sa.Column("at", mailflow.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pool", sa.Integer(), nullable=False),
        sa.Column("exchange", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("outbox", sa.Integer(), nullable=False),
        sa.Column("queue", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("at", name=op.f("pk_report_samples")),
    )


def downgrade() -> None:
    op.drop_table("report_samples")
