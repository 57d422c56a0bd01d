"""Helpers shared by the store modules: ids, clocks, dialect-aware inserts, errors."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from scimd.scim.errors import ScimError, uniqueness
from scimd.scim.values import DATETIME_FORMAT

_ID_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_id(prefix: str, length: int = 10) -> str:
    """A Slack-style id: a type letter and random upper-case characters (about 51 bits)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now() -> str:
    """The current time in the stored form."""
    return datetime.now(UTC).strftime(DATETIME_FORMAT)


def insert_ignore(conn: Connection, table: Table):
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's database."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def conflict(exc: IntegrityError) -> ScimError:
    """Turn a unique-constraint violation into the 409 it stands for (RFC 7644 §3.3)."""
    text = str(exc.orig).lower()
    if "user_name_lower" in text:
        return uniqueness("userName is already taken.", "username_taken")
    if "unique_value" in text:
        return uniqueness("That email address is already taken.", "email_taken")
    if "external_id" in text:
        return uniqueness("externalId is already taken.", "external_id_taken")
    if "display_name" in text:
        return uniqueness("displayName is already taken.", "group_name_taken")
    return ScimError(409, "conflict", "The change conflicts with another resource.", "uniqueness")
