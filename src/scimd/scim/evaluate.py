"""In-memory filter evaluation (RFC 7644 §3.4.2.2).

Used where a filter applies to one resource already in hand: PATCH value
selections such as ``emails[type eq "work"]`` (RFC 7644 §3.5.2), and the tests
that check the SQL compiler against this reference.
"""

from __future__ import annotations

from typing import Any

from scim2_models.path import (
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from scimd.scim.attributes import ResourceType
from scimd.scim.paths import Resolved, resolve
from scimd.scim.values import compare, filter_operand, is_present, stored_operand


def attribute_values(body: dict, res: Resolved) -> list[Any]:
    """Every value ``res`` designates in ``body`` (several for multi-valued attributes)."""
    container = body.get(res.container_key, {}) if res.container_key else body
    if not isinstance(container, dict):
        return []
    raw = container.get(res.attr.name)
    items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    if res.sub is not None:
        return [i.get(res.sub.name) for i in items if isinstance(i, dict)]
    if res.attr.is_complex and res.attr.multi_valued:
        return [i.get("value") for i in items if isinstance(i, dict)]
    return items


def matches(node: FilterNode, body: dict, rtype: ResourceType,
            parent: Resolved | None = None) -> bool:
    """Whether ``body`` (or, with ``parent``, one element of a multi-valued attribute) matches."""
    if isinstance(node, LogicalExpr):
        results = (matches(t, body, rtype, parent) for t in node.terms)
        return all(results) if node.op is LogicalOperator.and_ else any(results)
    if isinstance(node, Not):
        return not matches(node.expr, body, rtype, parent)
    if isinstance(node, ValuePath):
        outer = resolve(rtype, node.attr_path)
        container = body.get(outer.container_key, {}) if outer.container_key else body
        raw = container.get(outer.attr.name) if isinstance(container, dict) else None
        elements = raw if isinstance(raw, list) else ([raw] if isinstance(raw, dict) else [])
        return any(
            isinstance(e, dict) and matches(node.val_filter, e, rtype, outer) for e in elements
        )
    if isinstance(node, (Present, Comparison)) and parent is None and _is_schemas(node):
        return _schemas(node, body, rtype)
    if isinstance(node, Present):
        res = resolve(rtype, node.attr_path, parent=parent)
        if parent is None and res.sub is None and res.attr.is_complex:
            container = body.get(res.container_key, {}) if res.container_key else body
            return isinstance(container, dict) and is_present(container.get(res.attr.name))
        values = [body.get(res.sub.name)] if parent else attribute_values(body, res)
        return any(is_present(stored_operand(res.leaf, v)) for v in values)
    if isinstance(node, Comparison):
        res = resolve(rtype, node.attr_path, parent=parent)
        leaf = res.leaf
        if parent is None and res.sub is None and res.attr.is_complex and res.attr.multi_valued:
            leaf = res.attr.sub("value") or leaf  # emails co "x" compares each value
        operand = filter_operand(leaf, node.op, node.value)
        values = [body.get(res.sub.name)] if parent else attribute_values(body, res)
        if not values:  # no value at all: unassigned, whatever a sub-attribute's default
            return compare(node.op, None, operand)
        return any(compare(node.op, stored_operand(leaf, v), operand) for v in values)
    raise TypeError(f"unexpected filter node {node!r}")


def _is_schemas(node: Present | Comparison) -> bool:
    path = node.attr_path
    return path.uri is None and path.sub_attr is None and path.attr.lower() == "schemas"


def _schemas(node: Present | Comparison, body: dict, rtype: ResourceType) -> bool:
    """``schemas`` (RFC 7644 §3.4.2.2's example): the core URN and each extension present."""
    if isinstance(node, Present):
        return True
    urns = [rtype.schema.id.lower()] + [e.id.lower() for e in rtype.extensions if e.id in body]
    value = node.value.lower() if isinstance(node.value, str) else None
    hit = value in urns
    return hit if node.op is CompareOperator.eq else not hit
