"""audit actors and deprovision guard

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guard_trips",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "tenant_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tripped_at", sa.String(length=27), nullable=False),
        sa.Column("released_at", sa.String(length=27), nullable=True),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_guard_trips_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_guard_trips")),
    )
    with op.batch_alter_table("guard_trips", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guard_trips_tenant_pk_released_at"),
            ["tenant_pk", "released_at"],
            unique=False,
        )

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("actor_user_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("client", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_audit_events_tenant_pk_action_at"),
            ["tenant_pk", "action", "at"],
            unique=False,
        )



def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_tenant_pk_action_at"))
        batch_op.drop_column("client")
        batch_op.drop_column("actor_user_id")
        batch_op.drop_column("token_id")

    with op.batch_alter_table("guard_trips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guard_trips_tenant_pk_released_at"))

    op.drop_table("guard_trips")
