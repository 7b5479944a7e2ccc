"""admin users: the console's language per admin (#19)

Revision ID: users1
Revises: table1
"""

from alembic import op
import sqlalchemy as sa


revision = "users1"
down_revision = "table1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), server_default="en", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        batch_op.drop_column("language")
