"""stamp every change of a tenant's set of users and groups

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

``resource_counts.stamp`` takes a new random value with every row added or removed,
set by the same triggers that keep ``total``. A server process keeps, per tenant, the
keys of its users (and groups) in the default order so that a page deep in the
collection starts at a known key instead of skipping entries (``store/positions.py``);
the stamp tells it, in the same read as the total, whether those keys still hold.

Random rather than a counter: a counter starts again when a tenant is deleted and
imported again under its id, or after a downgrade and an upgrade, and a process
could then take another set of rows for the one it read (64 bits on SQLite, 53 on
PostgreSQL: a repeat is not to be expected).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COUNTED = (("users", "user"), ("groups", "group"))

SQLITE_STAMP = "random()"  # 64 bits, signed (abs() of the smallest one would overflow)

SQLITE_TRIGGERS = f"""
CREATE TRIGGER {{table}}_counted_insert AFTER INSERT ON {{table}} BEGIN
  INSERT INTO resource_counts (tenant_pk, resource, total, stamp)
  VALUES (NEW.tenant_pk, '{{kind}}', 1, {SQLITE_STAMP})
  ON CONFLICT (tenant_pk, resource) DO UPDATE SET total = total + 1, stamp = {SQLITE_STAMP};
END;
CREATE TRIGGER {{table}}_counted_delete AFTER DELETE ON {{table}} BEGIN
  UPDATE resource_counts SET total = total - 1, stamp = {SQLITE_STAMP}
  WHERE tenant_pk = OLD.tenant_pk AND resource = '{{kind}}';
END;
"""

POSTGRES_STAMP = "floor(random() * 9007199254740992)::bigint"

POSTGRES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION scimd_count_resource() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO resource_counts (tenant_pk, resource, total, stamp)
    VALUES (NEW.tenant_pk, TG_ARGV[0], 1, {POSTGRES_STAMP})
    ON CONFLICT (tenant_pk, resource) DO UPDATE
    SET total = resource_counts.total + 1, stamp = {POSTGRES_STAMP};
  ELSE
    UPDATE resource_counts SET total = total - 1, stamp = {POSTGRES_STAMP}
    WHERE tenant_pk = OLD.tenant_pk AND resource = TG_ARGV[0];
  END IF;
  RETURN NULL;
END $$;
"""

# 0006's function and triggers, which the downgrade puts back.
POSTGRES_FUNCTION_0006 = """
CREATE OR REPLACE FUNCTION scimd_count_resource() RETURNS trigger LANGUAGE plpgsql AS $$
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

SQLITE_TRIGGERS_0006 = """
CREATE TRIGGER {table}_counted_insert AFTER INSERT ON {table} BEGIN
  INSERT INTO resource_counts (tenant_pk, resource, total) VALUES (NEW.tenant_pk, '{kind}', 1)
  ON CONFLICT (tenant_pk, resource) DO UPDATE SET total = total + 1;
END;
CREATE TRIGGER {table}_counted_delete AFTER DELETE ON {table} BEGIN
  UPDATE resource_counts SET total = total - 1
  WHERE tenant_pk = OLD.tenant_pk AND resource = '{kind}';
END;
"""


def _sqlite_triggers(template: str) -> None:
    for table, kind in COUNTED:
        op.execute(f"DROP TRIGGER {table}_counted_insert")
        op.execute(f"DROP TRIGGER {table}_counted_delete")
        for statement in template.format(table=table, kind=kind).split("END;"):
            if statement.strip():
                op.execute(statement + "END;")


def upgrade() -> None:
    op.add_column("resource_counts", sa.Column(
        "stamp", sa.BigInteger(), server_default="0", nullable=False))
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(f"UPDATE resource_counts SET stamp = {SQLITE_STAMP if sqlite else POSTGRES_STAMP}")
    if sqlite:
        _sqlite_triggers(SQLITE_TRIGGERS)
    else:
        op.execute(POSTGRES_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers(SQLITE_TRIGGERS_0006)
    else:
        op.execute(POSTGRES_FUNCTION_0006)
    op.drop_column("resource_counts", "stamp")
