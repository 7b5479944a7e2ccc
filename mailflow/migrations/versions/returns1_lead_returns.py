"""bad-lead reports (returns): the reports, and the returned mark on offers (#20)

Revision ID: returns1
Revises: speed1
"""

from alembic import op
import sqlalchemy as sa
import mailflow.models


revision = "returns1"
down_revision = "speed1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("installer_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reported_at", mailflow.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", mailflow.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["installer_id"], ["installers.id"], name=op.f("fk_lead_returns_installer_id_installers")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_lead_returns_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_lead_returns_offer_id_offers"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_returns")),
    )
    with op.batch_alter_table("lead_returns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_returns_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_lead_returns_installer_reported", ["installer_id", "reported_at"], unique=False
        )
        batch_op.create_index(
            "ix_lead_returns_state_reported", ["state", "reported_at"], unique=False
        )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("returned_at", mailflow.models.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_column("returned_at")
    with op.batch_alter_table("lead_returns", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_returns_state_reported")
        batch_op.drop_index("ix_lead_returns_installer_reported")
        batch_op.drop_index(batch_op.f("ix_lead_returns_lead_id"))
    op.drop_table("lead_returns")
