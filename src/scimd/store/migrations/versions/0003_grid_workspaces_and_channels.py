"""grid workspaces and channels

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "tenant_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("org_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("name_lower", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_pk"], ["tenants.pk"], name=op.f("fk_channels_org_pk_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_channels_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_channels")),
        sa.UniqueConstraint("id", name=op.f("uq_channels_id")),
        sa.UniqueConstraint("org_pk", "name_lower", name=op.f("uq_channels_org_pk_name_lower")),
    )
    op.create_table(
        "channel_members",
        sa.Column(
            "channel_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_pk"],
            ["channels.pk"],
            name=op.f("fk_channel_members_channel_pk_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("fk_channel_members_user_pk_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_pk", "user_pk", name=op.f("pk_channel_members")),
    )
    with op.batch_alter_table("channel_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_members_user_pk"), ["user_pk"], unique=False)

    op.create_table(
        "idp_connections",
        sa.Column(
            "workspace_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("group_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("required", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["group_pk"],
            ["groups.pk"],
            name=op.f("fk_idp_connections_group_pk_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_pk"],
            ["tenants.pk"],
            name=op.f("fk_idp_connections_workspace_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_pk", "group_pk", name=op.f("pk_idp_connections")),
    )
    with op.batch_alter_table("idp_connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idp_connections_group_pk"), ["group_pk"], unique=False)

    op.create_table(
        "workspace_members",
        sa.Column(
            "workspace_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("manual", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("fk_workspace_members_user_pk_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_pk"],
            ["tenants.pk"],
            name=op.f("fk_workspace_members_workspace_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_pk", "user_pk", name=op.f("pk_workspace_members")),
    )
    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workspace_members_user_pk"), ["user_pk"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspace_members_user_pk"))

    op.drop_table("workspace_members")
    with op.batch_alter_table("idp_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idp_connections_group_pk"))

    op.drop_table("idp_connections")
    with op.batch_alter_table("channel_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_members_user_pk"))

    op.drop_table("channel_members")
    op.drop_table("channels")
