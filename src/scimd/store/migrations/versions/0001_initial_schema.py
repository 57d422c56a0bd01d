"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("plan", sa.String(length=32), server_default="enterprise", nullable=False),
        sa.Column("dialect", sa.String(length=16), server_default="slack", nullable=False),
        sa.Column("parent_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("is_default", sa.Boolean(), server_default="0", nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_pk"],
            ["tenants.pk"],
            name=op.f("fk_tenants_parent_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_tenants")),
        sa.UniqueConstraint("id", name=op.f("uq_tenants_id")),
    )
    op.create_table(
        "groups",
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
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("display_name_lower", sa.Text(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column(
            "attrs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("modified_at", sa.String(length=27), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_groups_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_groups")),
        sa.UniqueConstraint("id", name=op.f("uq_groups_id")),
        sa.UniqueConstraint(
            "tenant_pk", "external_id", name=op.f("uq_groups_tenant_pk_external_id")
        ),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_groups_tenant_pk_display_name_lower"),
            ["tenant_pk", "display_name_lower"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_groups_tenant_pk_pk"), ["tenant_pk", "pk"], unique=False
        )

    op.create_table(
        "users",
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
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("user_name_lower", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("display_name_lower", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("role", sa.String(length=32), server_default="member", nullable=False),
        sa.Column("is_bot", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("erased", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column(
            "attrs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("modified_at", sa.String(length=27), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_users_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_users")),
        sa.UniqueConstraint("id", name=op.f("uq_users_id")),
        sa.UniqueConstraint(
            "tenant_pk", "external_id", name=op.f("uq_users_tenant_pk_external_id")
        ),
        sa.UniqueConstraint(
            "tenant_pk", "user_name_lower", name=op.f("uq_users_tenant_pk_user_name_lower")
        ),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_users_tenant_pk_display_name_lower"),
            ["tenant_pk", "display_name_lower"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_users_tenant_pk_pk"), ["tenant_pk", "pk"], unique=False
        )

    op.create_table(
        "memberships",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("group_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("child_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["child_pk"],
            ["groups.pk"],
            name=op.f("fk_memberships_child_pk_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_pk"],
            ["groups.pk"],
            name=op.f("fk_memberships_group_pk_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("fk_memberships_user_pk_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_memberships")),
        sa.UniqueConstraint("group_pk", "child_pk", name=op.f("uq_memberships_group_pk_child_pk")),
        sa.UniqueConstraint("group_pk", "user_pk", name=op.f("uq_memberships_group_pk_user_pk")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_child_pk"), ["child_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_memberships_user_pk"), ["user_pk"], unique=False)

    op.create_table(
        "tokens",
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
        sa.Column("user_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=255), server_default="admin", nullable=False),
        sa.Column(
            "allow_ips",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("revoked_at", sa.String(length=27), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_tokens_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("fk_tokens_user_pk_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_tokens_digest")),
        sa.UniqueConstraint("id", name=op.f("uq_tokens_id")),
    )
    op.create_table(
        "user_emails",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "tenant_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("value_lower", sa.String(length=320), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("primary", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("display", sa.Text(), nullable=True),
        sa.Column("unique_value", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("fk_user_emails_user_pk_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_user_emails")),
        sa.UniqueConstraint(
            "tenant_pk", "unique_value", name=op.f("uq_user_emails_tenant_pk_unique_value")
        ),
    )
    with op.batch_alter_table("user_emails", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_emails_tenant_pk_value_lower"),
            ["tenant_pk", "value_lower"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_user_emails_user_pk"), ["user_pk"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("user_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_emails_user_pk"))
        batch_op.drop_index(batch_op.f("ix_user_emails_tenant_pk_value_lower"))

    op.drop_table("user_emails")
    op.drop_table("tokens")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_user_pk"))
        batch_op.drop_index(batch_op.f("ix_memberships_child_pk"))

    op.drop_table("memberships")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_tenant_pk_pk"))
        batch_op.drop_index(batch_op.f("ix_users_tenant_pk_display_name_lower"))

    op.drop_table("users")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_tenant_pk_pk"))
        batch_op.drop_index(batch_op.f("ix_groups_tenant_pk_display_name_lower"))

    op.drop_table("groups")
    op.drop_table("tenants")
