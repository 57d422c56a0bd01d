"""Seed a scimd database with the benchmark's users, through scimd's own store layer.

Run with the project's virtualenv (``.venv/bin/python bench/seed_scimd.py``). It
migrates the schema (what ``scimd migrate`` does), bootstraps the default tenant and
its token exactly as ``scimd serve`` would (``scimd.app.prepare``), creates user 0
through the directory layer (``Users.create``, the path a POST takes) and checks that
the rows it wrote are the rows the bulk insert writes for the others: ``users`` and
``user_emails`` by ``executemany`` with ``RETURNING``, one transaction per chunk.
Writes the user ids, in user order, one a line, to ``--ids-out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dataset import stored_attrs

CHUNK = 5000


def _columns(attrs: dict) -> dict:
    """The indexed columns of a user, as ``scimd.store.users`` derives them."""
    try:
        from scimd.store.users import _columns as scimd_columns

        return scimd_columns(attrs)
    except ImportError:  # the store moved on: keep the same derivation
        name, display = attrs["userName"], attrs.get("displayName")
        return {"user_name": name, "user_name_lower": name.lower(),
                "external_id": attrs.get("externalId"), "display_name": display,
                "display_name_lower": display.lower() if display is not None else None,
                "active": attrs.get("active", True)}


def _email_rows(tenant_pk: int, user_pk: int, attrs: dict) -> list[dict]:
    """``user_emails`` rows as ``scimd.store.users._write_emails`` writes them (rfc dialect:
    emails are not unique, so ``unique_value`` stays NULL)."""
    rows = []
    for e in attrs.get("emails") or []:
        value = e["value"]
        rows.append({"tenant_pk": tenant_pk, "user_pk": user_pk, "value": value,
                     "value_lower": value.lower(), "type": e.get("type"),
                     "primary": e.get("primary") is True, "display": e.get("display"),
                     "unique_value": None})
    return rows


def _row_of(conn, table, where) -> dict:
    row = conn.execute(table.select().where(where)).mappings().one()
    return dict(row)


def seed(url: str, token: str, users: int, ids_out: Path) -> dict:
    from sqlalchemy import insert

    from scimd.app import prepare
    from scimd.directory.users import Users
    from scimd.settings import Settings
    from scimd.store import migrate, tenants
    from scimd.store import tables as t
    from scimd.store.common import new_id, now
    from scimd.store.db import connect

    os.environ.update({"SCIMD_DATABASE_URL": url, "SCIMD_BOOTSTRAP_TOKEN": token,
                       "SCIMD_BOOTSTRAP_DIALECT": "rfc", "SCIMD_RATE_LIMITS": "off"})
    settings = Settings.from_env()
    db = connect(url)
    started = time.perf_counter()
    try:
        migrate.upgrade(db)
        prepare(settings, db)
        with db.snapshot() as reader:
            info = tenants.tenant_for_token(reader, token)
        assert info is not None, "the bootstrap token names no tenant"
        tenant = info.tenant
        assert tenant.dialect == "rfc", tenant.dialect

        # User 0 through the directory layer; the bulk rows must match what it wrote.
        ref = Users(db).create(tenant, stored_attrs(0))
        ids = [ref.id]
        with db.read() as conn:
            ref_user = _row_of(conn, t.users, t.users.c.pk == ref.pk)
            ref_email = _row_of(conn, t.user_emails, t.user_emails.c.user_pk == ref.pk)
        skip = {"pk", "id", "created_at", "modified_at"}
        mine = {"tenant_pk": tenant.pk, "attrs": stored_attrs(0), "password_hash": None,
                "version": 1, "role": "member", "is_bot": False, "erased": False,
                **_columns(stored_attrs(0))}
        theirs = {k: v for k, v in ref_user.items() if k not in skip}
        if mine != theirs:
            raise SystemExit(f"seed rows differ from insert_user's:\n{mine}\n{theirs}")
        email_mine = _email_rows(tenant.pk, ref.pk, stored_attrs(0))[0]
        if email_mine != {k: v for k, v in ref_email.items() if k != "pk"}:
            raise SystemExit(f"seed email rows differ:\n{email_mine}\n{ref_email}")

        stmt = insert(t.users).returning(t.users.c.pk, sort_by_parameter_order=True)
        for start in range(1, users, CHUNK):
            stop = min(start + CHUNK, users)
            stamp = now()
            rows, attrs_list = [], []
            for i in range(start, stop):
                attrs = stored_attrs(i)
                attrs_list.append(attrs)
                rows.append({"id": new_id(tenant.user_prefix), "tenant_pk": tenant.pk,
                             "attrs": attrs, "password_hash": None, "created_at": stamp,
                             "modified_at": stamp, "version": 1, "role": "member",
                             "is_bot": False, "erased": False, **_columns(attrs)})
            with db.write() as conn:
                pks = [r.pk for r in conn.execute(stmt, rows)]
                emails = [e for pk, attrs in zip(pks, attrs_list, strict=True)
                          for e in _email_rows(tenant.pk, pk, attrs)]
                conn.execute(insert(t.user_emails), emails)
            ids.extend(r["id"] for r in rows)
        if not db.is_sqlite:  # what autovacuum does on a live server
            with db.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        db.dispose()
    ids_out.write_text("\n".join(ids) + "\n")
    return {"users": len(ids), "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--ids-out", type=Path, required=True)
    args = parser.parse_args()
    result = seed(args.url, args.token, args.users, args.ids_out)
    print(f"seeded {result['users']} users in {result['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
