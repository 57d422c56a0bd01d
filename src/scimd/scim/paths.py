"""Parsing and resolving attribute paths and filters (RFC 7644 §3.4.2.2, §3.5.2, §3.10).

The grammar itself comes from scim2-models (a lark LALR parser with a depth
limit); this module adds what a server needs on top of it: length limits,
extension sub-paths written with ``.`` after the URN (Slack's docs use both
``…:User:employeeNumber`` and ``…:User.manager.managerId``), and resolution of
every name against the attribute definitions of a resource type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scim2_models.exceptions import InvalidFilterException, InvalidPathException
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    Not,
    Path,
    Present,
    ScimFilter,
    ValuePath,
)

from scimd.scim.attributes import Attribute, ResourceType, Schema
from scimd.scim.errors import ScimError, invalid_filter, invalid_path

MAX_FILTER_LENGTH = 4096
"""Longest filter accepted; longer ones are 400 ``invalidFilter`` before parsing."""

MAX_PATH_LENGTH = 1024
"""Longest PATCH path accepted."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """An attribute path bound to its definitions.

    ``schema`` is ``None`` for the common attributes of RFC 7643 §3.1
    (``id``, ``externalId``, ``meta``). ``extension`` is true when the
    attribute lives under its schema URN in the resource body.
    """

    schema: Schema | None
    attr: Attribute
    sub: Attribute | None
    extension: bool

    @property
    def leaf(self) -> Attribute:
        """The attribute whose value a comparison reads."""
        return self.sub or self.attr

    @property
    def container_key(self) -> str | None:
        """The body key holding an extension's attributes, or ``None`` for core ones."""
        return self.schema.id if self.extension and self.schema else None

    def __str__(self) -> str:
        name = self.attr.name + (f".{self.sub.name}" if self.sub else "")
        return f"{self.container_key}:{name}" if self.container_key else name


def parse_filter(text: str) -> FilterNode:
    """Parse a filter expression, or raise 400 ``invalidFilter``."""
    if not text or not text.strip():
        raise invalid_filter("The filter is empty.", code="no_filters")
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    simple = _simple_equality(text)
    if simple is not None:
        return simple
    try:
        return ScimFilter(text).ast
    except (InvalidFilterException, RecursionError, ValueError) as exc:
        raise invalid_filter(f"The filter could not be parsed: {exc}") from None


_SIMPLE_EQUALITY = re.compile(
    r'([A-Za-z][A-Za-z0-9_-]*)(?:\.([A-Za-z][A-Za-z0-9_-]*))? (?i:eq) "([^"\\\x00-\x1f]*)"')


_KEYWORDS = frozenset({"not", "and", "or"})
"""Words the grammar reads as operators, never as an attribute at the start."""


def _simple_equality(text: str) -> Comparison | None:
    """``attr eq "value"`` (or ``attr.sub eq "value"``) with a plain string, as identity
    providers send before every write, without the grammar: the parser cost 108 µs a
    filter against about 2 µs here. Anything else (escapes, URNs, other spacing) is
    ``None`` and goes to the parser; a property test holds both to the same tree."""
    found = _SIMPLE_EQUALITY.fullmatch(text)
    if found is None:
        return None
    attr, sub, value = found.groups()
    if attr.lower() in _KEYWORDS:
        return None
    return Comparison(attr_path=AttrPath(attr=attr, sub_attr=sub, uri=None),
                      op=CompareOperator.eq, value=value)


def split_extension(text: str, rtype: ResourceType) -> tuple[str | None, str]:
    """Split a leading extension (or core) URN off a path, with ``:`` or ``.`` after it."""
    low = text.lower()
    for schema in (rtype.schema, *rtype.extensions):
        urn = schema.id.lower()
        if low.startswith(urn):
            rest = text[len(urn):]
            if not rest:
                return schema.id, ""
            if rest[0] in ":.":
                return schema.id, rest[1:]
    return None, text


def parse_path(text: str, rtype: ResourceType) -> tuple[str | None, Any]:
    """Parse a PATCH path (RFC 7644 §3.5.2) into ``(urn, node)``.

    ``node`` is an ``AttrPath`` or a ``ValuePath`` (possibly with a
    sub-attribute); ``urn`` is the schema URN the path was qualified with, and
    a path that is only a URN (``node`` is ``None``) addresses the whole
    extension object.
    """
    if len(text) > MAX_PATH_LENGTH:
        raise invalid_path(f"The path is longer than {MAX_PATH_LENGTH} characters.")
    urn, rest = split_extension(text.strip(), rtype)
    if urn is not None and not rest:
        return urn, None
    try:
        node = Path(rest).ast
    except (InvalidPathException, RecursionError, ValueError) as exc:
        raise invalid_path(f"The path {text!r} could not be parsed: {exc}") from None
    if isinstance(node, (Comparison, Present)):
        raise invalid_path(f"The path {text!r} is a filter, not an attribute path.")
    if node is None:
        raise invalid_path(f"The path {text!r} could not be parsed.")
    return urn, node


def resolve(
    rtype: ResourceType,
    path: AttrPath,
    *,
    urn: str | None = None,
    error: type | None = None,
    parent: Resolved | None = None,
) -> Resolved:
    """Bind ``path`` to its definitions in ``rtype``.

    Names match case-insensitively (RFC 7643 §2.1). An unqualified name is looked
    up among the common attributes, then the core schema, then each extension,
    so ``manager`` finds the enterprise extension's manager (as Entra sends it).
    Inside a value filter (``parent`` given) names are sub-attributes of the
    parent. An unknown name raises ``error`` (400 ``invalidFilter`` by default).
    """
    fail = error or _filter_error
    if parent is not None:
        if path.uri is not None or path.sub_attr is not None:
            raise fail(f"{path} is not a sub-attribute of {parent.attr.name}.")
        sub = parent.attr.sub(path.attr)
        if sub is None:
            raise fail(f"{parent.attr.name} has no sub-attribute {path.attr!r}.")
        return Resolved(parent.schema, parent.attr, sub, parent.extension)

    qualifier = path.uri or urn
    if qualifier is not None:
        schema = rtype.schema_for(qualifier)
        if schema is None:
            raise fail(f"Unknown schema {qualifier!r}.")
        attr = schema.attribute(path.attr)
        if attr is None and schema is rtype.schema:
            attr = next((c for c in rtype.common if c.name.lower() == path.attr.lower()), None)
            schema = None if attr is not None else schema
        extension = schema is not None and schema is not rtype.schema
    else:
        schema, attr, extension = None, None, False
        for common in rtype.common:
            if common.name.lower() == path.attr.lower():
                attr = common
                break
        if attr is None:
            for candidate in (rtype.schema, *rtype.extensions):
                attr = candidate.attribute(path.attr)
                if attr is not None:
                    schema, extension = candidate, candidate is not rtype.schema
                    break
    if attr is None:
        raise fail(f"Unknown attribute {path!s}.")
    sub = None
    if path.sub_attr is not None:
        sub = attr.sub(path.sub_attr)
        if sub is None:
            raise fail(f"{attr.name} has no sub-attribute {path.sub_attr!r}.")
    return Resolved(schema, attr, sub, extension)


def _filter_error(detail: str) -> ScimError:
    return invalid_filter(detail)


def path_error(detail: str) -> ScimError:
    """400 ``invalidPath`` for an unknown attribute in a PATCH path."""
    return invalid_path(detail)


def walk(node: FilterNode):
    """Yield every node of a filter tree, depth first."""
    yield node
    if isinstance(node, LogicalExpr):
        for term in node.terms:
            yield from walk(term)
    elif isinstance(node, Not):
        yield from walk(node.expr)
    elif isinstance(node, ValuePath):
        yield from walk(node.val_filter)


def transform(node: FilterNode, fn) -> FilterNode:
    """Rebuild a filter tree bottom-up, replacing each leaf by ``fn(leaf, parent_path)``.

    ``fn`` receives ``Comparison`` and ``Present`` nodes (and the ``AttrPath`` of
    the enclosing value path, or ``None``) and returns a node.
    """

    def walk_node(n: FilterNode, parent: AttrPath | None) -> FilterNode:
        if isinstance(n, LogicalExpr):
            return LogicalExpr(op=n.op, terms=tuple(walk_node(t, parent) for t in n.terms))
        if isinstance(n, Not):
            return Not(expr=walk_node(n.expr, parent))
        if isinstance(n, ValuePath):
            return ValuePath(attr_path=n.attr_path, val_filter=walk_node(n.val_filter,
                                                                         n.attr_path),
                             sub_attr=n.sub_attr)
        return fn(n, parent)

    return walk_node(node, None)
