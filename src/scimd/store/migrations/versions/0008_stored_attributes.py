"""stored attributes lose the keys the server writes itself

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

``users.attrs`` and ``groups.attrs`` never hold ``schemas``, ``id``, ``meta`` or the
relation kept as rows (a user's ``groups``, a group's ``members``): the renderers write
their own (``store/stored_form.py``). ``scimd tenant create`` stored ``"schemas": []``
with each primary owner, which then answered an empty ``schemas`` (RFC 7643 §3 requires
the core schema's URN). This removes such keys; the version of each row changed moves on,
since its representation changes (RFC 7644 §3.14). There is nothing to put back on a
downgrade.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STORED = (("users", "groups"), ("groups", "members"))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, relation in STORED:
        keys = ("schemas", "id", "meta", relation)
        if sqlite:
            paths = ", ".join(f"'$.{k}'" for k in keys)
            held = " OR ".join(f"json_type(attrs, '$.{k}') IS NOT NULL" for k in keys)
            op.execute(f"UPDATE {table} SET attrs = json_remove(attrs, {paths}),"
                       f" version = version + 1 WHERE {held}")
        else:
            removed = " - ".join(["attrs", *(f"'{k}'" for k in keys)])
            named = ", ".join(f"'{k}'" for k in keys)
            op.execute(f"UPDATE {table} SET attrs = {removed}, version = version + 1"
                       f" WHERE attrs ?| array[{named}]")


def downgrade() -> None:
    pass
