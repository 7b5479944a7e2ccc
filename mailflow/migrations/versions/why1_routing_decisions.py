"""routing decisions: who got each offer and why the others did not (#20)

Revision ID: why1
Revises: returns1
"""

from alembic import op
import sqlalchemy as sa
import mailflow.models


revision = "why1"
down_revision = "hooks1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("at", mailflow.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("installer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("rest", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["installer_id"],
            ["installers.id"],
            name=op.f("fk_routing_decisions_installer_id_installers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_routing_decisions_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_routing_decisions_offer_id_offers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_decisions")),
    )
    with op.batch_alter_table("routing_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_decisions_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_routing_decisions_offer_id"), ["offer_id"], unique=False)
        batch_op.create_index("ix_routing_decisions_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("routing_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_decisions_at")
        batch_op.drop_index(batch_op.f("ix_routing_decisions_offer_id"))
        batch_op.drop_index(batch_op.f("ix_routing_decisions_lead_id"))
    op.drop_table("routing_decisions")
