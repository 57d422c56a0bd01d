"""The stored form of a resource's attributes, kept by the columns that hold it.

``users.attrs`` and ``groups.attrs`` hold what a client wrote, normalised by
``validate.canonical_body``: attribute names (RFC 7643 §2.1) and, at the top only,
extension URNs (RFC 7643 §3.3). What the server writes itself (``schemas``, ``id``,
``meta``, RFC 7643 §3.1) and the relations kept as rows (a user's ``groups``, a group's
``members``) are never stored: the renderers write their own, and a list page copies
the stored text between them (``v2_render.user_json``), so a stored copy would appear
twice. :class:`StoredAttributes` holds every writer to this, the CLI and ``scimd import``
included.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SERVER_KEYS = ("schemas", "id", "meta")
"""Keys the server writes in every resource (RFC 7643 §3, §3.1)."""


def stored_form(attrs: dict[str, Any], relation: str) -> dict[str, Any]:
    """``attrs`` without the server's keys and ``relation`` (``groups`` or ``members``).

    Raises ``ValueError`` for a key no attribute can have: one holding a quote, or below
    the top a key holding a colon (only an extension's URN has one, and only at the top).
    """
    if relation in attrs or any(key in attrs for key in SERVER_KEYS):
        attrs = {k: v for k, v in attrs.items() if k != relation and k not in SERVER_KEYS}
    for key, value in attrs.items():
        if '"' in key:
            raise ValueError(f"attribute {key!r} is not an attribute name")
        _check_nested(value, key)
    return attrs


def _check_nested(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if '"' in key or ":" in key:
                raise ValueError(f"{where}.{key!r} is not an attribute name")
            _check_nested(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for inner in value:
            _check_nested(inner, where)


class StoredAttributes(TypeDecorator):
    """A JSON column (``jsonb`` on PostgreSQL) whose values are written in
    :func:`stored_form`."""

    impl = JSON
    cache_ok = True

    def __init__(self, relation: str) -> None:
        super().__init__()
        self.relation = relation

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return stored_form(value, self.relation) if isinstance(value, dict) else value
