"""The stored form of a resource's attributes, kept by the columns that hold it.

``users.attrs`` and ``groups.attrs`` hold what a client wrote, normalised by
``validate.canonical_body``: attribute names (RFC 7643 §2.1) and, at the top only,
extension URNs (RFC 7643 §3.3). What the server writes itself (``schemas``, ``id``,
``meta``, RFC 7643 §3.1) and the relations kept as rows (a user's ``groups``, a group's
``members``) are never stored: the renderers write their own, and a list page copies
the stored text between them (``v2_render.user_json``), so a stored copy would appear
twice. :class:`StoredAttributes` holds every writer to this, the CLI and ``scimd import``
included; the store's writers apply it themselves too, so the records they return
hold what was stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SERVER_KEYS = frozenset({"schemas", "id", "meta"})
"""Keys the server writes in every resource (RFC 7643 §3, §3.1)."""


def stored_form(attrs: dict[str, Any], relation: str, *, strict: bool = False) -> dict[str, Any]:
    """``attrs`` as stored: without the server's keys or ``relation`` (``groups`` or
    ``members``), in any case (RFC 7643 §2.1), and without keys no attribute can have:
    one holding a quote, or below the top one holding a colon (only an extension's URN
    has one, and only at the top). An object or list item left empty by that goes too,
    as an attribute with no value is absent. No client write holds such keys
    (``canonical_body`` drops them), but a dump may; ``strict`` refuses them with
    ``ValueError`` instead.

    Returns ``attrs`` itself, after one scan, when nothing is dropped (every write)."""
    dropped = SERVER_KEYS | {relation}
    for key, value in attrs.items():
        if key.lower() in dropped or '"' in key or _odd(value):
            break
    else:
        return attrs
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if key.lower() not in dropped and _named(key, key, strict, top=True):
            kept = _clean(value, key, strict)
            if kept is not _GONE:
                out[key] = kept
    return out


_GONE = object()
"""What :func:`_clean` returns for an object or list left empty by cleaning."""


def _named(key: str, where: str, strict: bool, *, top: bool = False) -> bool:
    """Whether ``key`` can name an attribute (or, at the top, an extension)."""
    if '"' not in key and (top or ":" not in key):
        return True
    if strict:
        raise ValueError(f"{where!r} is not an attribute name")
    return False


def _odd(value: Any) -> bool:
    """Whether some key below ``value`` is one no attribute can have (a scan that builds
    nothing: every write pays it)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if '"' in key or ":" in key or _odd(inner):
                return True
    elif isinstance(value, list):
        for inner in value:
            if _odd(inner):
                return True
    return False


def _clean(value: Any, where: str, strict: bool) -> Any:
    """``value`` without the keys below it that no attribute can have, or ``_GONE`` when
    that leaves an object or a list empty that was not."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if _named(k, f"{where}.{k}", strict):
                kept = _clean(v, f"{where}.{k}", strict)
                if kept is not _GONE:
                    out[k] = kept
        return _GONE if value and not out else out
    if isinstance(value, list):
        items = [kept for v in value if (kept := _clean(v, where, strict)) is not _GONE]
        return _GONE if value and not items else items
    return value


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

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        """A value compared with the column, or with a path into it, is no resource's
        attributes: plain JSON, not this type."""
        return JSON().with_variant(JSONB(), "postgresql")
