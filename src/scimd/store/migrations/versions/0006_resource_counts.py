"""resource counts kept by triggers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

A list without a filter answers ``totalResults`` (RFC 7644 §3.4.2) from this table
instead of counting the tenant's rows on every page: ``count(*)`` over 100,000 users
took 5.5 ms on SQLite. Triggers keep it, so every way a row is added or removed
(the API, the CLI, ``scimd import``, a tenant's cascade) is counted alike. On
PostgreSQL the trigger is deferred to commit, so concurrent writers hold the
counter row only for the moment of their commit, after every other lock they take.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COUNTED = (("users", "user"), ("groups", "group"))

SQLITE_TRIGGERS = """
CREATE TRIGGER {table}_counted_insert AFTER INSERT ON {table} BEGIN
  INSERT INTO resource_counts (tenant_pk, resource, total) VALUES (NEW.tenant_pk, '{kind}', 1)
  ON CONFLICT (tenant_pk, resource) DO UPDATE SET total = total + 1;
END;
CREATE TRIGGER {table}_counted_delete AFTER DELETE ON {table} BEGIN
  UPDATE resource_counts SET total = total - 1
  WHERE tenant_pk = OLD.tenant_pk AND resource = '{kind}';
END;
"""

POSTGRES_FUNCTION = """
CREATE FUNCTION scimd_count_resource() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO resource_counts (tenant_pk, resource, total)
    VALUES (NEW.tenant_pk, TG_ARGV[0], 1)
    ON CONFLICT (tenant_pk, resource) DO UPDATE SET total = resource_counts.total + 1;
  ELSE
    UPDATE resource_counts SET total = total - 1
    WHERE tenant_pk = OLD.tenant_pk AND resource = TG_ARGV[0];
  END IF;
  RETURN NULL;
END $$;
"""

POSTGRES_TRIGGER = """
CREATE CONSTRAINT TRIGGER {table}_counted AFTER INSERT OR DELETE ON {table}
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION scimd_count_resource('{kind}');
"""


def upgrade() -> None:
    op.create_table(
        "resource_counts",
        sa.Column(
            "tenant_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("resource", sa.String(length=8), nullable=False),
        sa.Column("total", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_resource_counts_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_pk", "resource", name=op.f("pk_resource_counts")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(POSTGRES_FUNCTION)
    for table, kind in COUNTED:
        op.execute(f"INSERT INTO resource_counts (tenant_pk, resource, total) "
                   f"SELECT tenant_pk, '{kind}', count(*) FROM {table} GROUP BY tenant_pk")
        if sqlite:
            for statement in SQLITE_TRIGGERS.format(table=table, kind=kind).split("END;"):
                if statement.strip():
                    op.execute(statement + "END;")
        else:
            op.execute(POSTGRES_TRIGGER.format(table=table, kind=kind))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, _kind in COUNTED:
        if sqlite:
            op.execute(f"DROP TRIGGER {table}_counted_insert")
            op.execute(f"DROP TRIGGER {table}_counted_delete")
        else:
            op.execute(f"DROP TRIGGER {table}_counted ON {table}")
    if not sqlite:
        op.execute("DROP FUNCTION scimd_count_resource()")
    op.drop_table("resource_counts")
