"""stored attributes lose the keys the server writes itself, and keys no attribute has

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

``users.attrs`` and ``groups.attrs`` never hold ``schemas``, ``id``, ``meta`` or the
relation kept as rows (a user's ``groups``, a group's ``members``), in any case, nor a
key holding a quote, nor below the top a key holding a colon (``store/stored_form.py``).
``scimd tenant create`` stored ``"schemas": []`` with each primary owner, which then
answered an empty ``schemas`` (RFC 7643 §3 requires the core schema's URN), and an
imported dump could hold anything. Each row changed gets a new version and
``lastModified``, since its representation changes (RFC 7644 §3.14); an object or list
item left empty goes too. No audit event is written for these changes. There is nothing
to put back on a downgrade.

The rule is written out here rather than imported: a migration must do what it did
when it was written, whatever the code becomes.
"""

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STORED = (("users", "groups"), ("groups", "members"))
BATCH = 1000


GONE = object()


def _named(key: str, top: bool) -> bool:
    return '"' not in key and (top or ":" not in key)


def _clean(value: Any) -> Any:
    """``value`` without odd keys below it; ``GONE`` if that empties an object or list."""
    if isinstance(value, dict):
        out = {k: kept for k, v in value.items()
               if _named(k, top=False) and (kept := _clean(v)) is not GONE}
        return GONE if value and not out else out
    if isinstance(value, list):
        items = [kept for v in value if (kept := _clean(v)) is not GONE]
        return GONE if value and not items else items
    return value


def _stored(attrs: dict, relation: str) -> dict:
    dropped = {"schemas", "id", "meta", relation}
    return {k: kept for k, v in attrs.items()
            if k.lower() not in dropped and _named(k, top=True) and (kept := _clean(v)) is not GONE}


def upgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for table, relation in STORED:
        write = sa.text(
            f"UPDATE {table} SET attrs = {'CAST(:attrs AS jsonb)' if postgres else ':attrs'},"
            " version = version + 1, modified_at = :stamp WHERE pk = :pk")
        last = 0
        while True:
            rows = conn.execute(sa.text(
                f"SELECT pk, attrs FROM {table} WHERE pk > :last ORDER BY pk LIMIT {BATCH}"),
                {"last": last}).all()
            if not rows:
                break
            last = rows[-1][0]
            changed = []
            for pk, raw in rows:
                attrs = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
                if isinstance(attrs, dict) and (kept := _stored(attrs, relation)) != attrs:
                    changed.append({"pk": pk, "attrs": orjson.dumps(kept).decode(),
                                    "stamp": stamp})
            if changed:
                conn.execute(write, changed)


def downgrade() -> None:
    pass
