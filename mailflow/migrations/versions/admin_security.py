"""admin sessions on the server, sign-in throttle, admin deactivation apart from inactivity

Revision ID: admin1
Revises: bounce1
"""

import sqlalchemy as sa
from alembic import op

import mailflow.models

revision = "admin1"
down_revision = "bounce1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("admin_user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", mailflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", mailflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mailflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("password_fingerprint", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_user_id"],
            ["admin_users.id"],
            name=op.f("fk_admin_sessions_admin_user_id_admin_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_sessions")),
    )
    with op.batch_alter_table("admin_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_admin_sessions_admin_user_id"), ["admin_user_id"], unique=False
        )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", mailflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_throttle_window_start"), ["window_start"], unique=False
        )
    with op.batch_alter_table("installers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "deactivated_by_admin", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("installers", schema=None) as batch_op:
        batch_op.drop_column("deactivated_by_admin")
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_window_start"))
    op.drop_table("login_throttle")
    with op.batch_alter_table("admin_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_sessions_admin_user_id"))
    op.drop_table("admin_sessions")
