"""speed to lead: installers' working hours, held leads, first contact (#20)

Revision ID: speed1
Revises: dataio1
"""

from alembic import op
import sqlalchemy as sa
import mailflow.models


revision = "speed1"
down_revision = "dataio1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("working_hours", sa.String(length=64), nullable=True))
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "held_until", mailflow.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "first_contact_at",
                mailflow.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("first_contact_at")
        batch_op.drop_column("held_until")
    with op.batch_alter_table("installers", schema=None) as batch_op:
        batch_op.drop_column("working_hours")
