"""The PATCH engine (RFC 7644 §3.5.2).

Applies a PatchOp request to the stored form of a resource. It accepts what
identity providers really send besides the RFC form: op names in any case
(Entra's ``Replace``), path-less values whose keys are attribute paths
(``"name.givenName"``, URN-qualified names), ``remove`` with a ``value`` list on
a multi-valued attribute, ``add`` on a value selection that matches nothing
(which creates the entry), and booleans written as strings.

Operations on a *relation* attribute (a group's ``members``) are not applied to
the body: they come back as :class:`MemberOp` deltas, so the store changes only
the membership rows they name and never loads the whole group.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    ValuePath,
)

from scimd.scim.attributes import Attribute, Mutability, ResourceType
from scimd.scim.errors import (
    ScimError,
    invalid_path,
    invalid_syntax,
    invalid_value,
    mutability,
    no_target,
)
from scimd.scim.evaluate import matches
from scimd.scim.paths import Resolved, parse_path, path_error, resolve
from scimd.scim.validate import SKIP, normalize, normalize_extension, normalize_single

PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_OPERATIONS = 1_000

Op = Literal["add", "replace", "remove"]


@dataclass(slots=True)
class MemberOp:
    """One change to a relation attribute, in request order."""

    kind: Literal["add", "remove", "remove_all", "replace", "remove_where"]
    values: list[dict] = field(default_factory=list)
    filter: FilterNode | None = None


@dataclass(slots=True)
class PatchResult:
    attrs: dict
    member_ops: list[MemberOp]
    password: str | None = None


def parse_operations(body: Any, *,
                     require_schema: bool = False) -> list[tuple[Op, str | None, Any]]:
    """Read the ``Operations`` of a PatchOp body (RFC 7644 §3.5.2)."""
    if not isinstance(body, dict):
        raise invalid_syntax("The PATCH body must be a JSON object.")
    schemas = body.get("schemas")
    if require_schema and (not isinstance(schemas, list) or PATCH_OP_URN not in schemas):
        raise invalid_syntax(f"schemas must contain {PATCH_OP_URN}.",
                             code="missing_schema_element")
    ops = next((v for k, v in body.items() if isinstance(k, str) and k.lower() == "operations"),
               None)
    if not isinstance(ops, list) or not ops:
        raise invalid_syntax("Operations must be a non-empty array.")
    if len(ops) > MAX_OPERATIONS:
        raise invalid_syntax(f"At most {MAX_OPERATIONS} operations are accepted.")
    out: list[tuple[Op, str | None, Any]] = []
    for raw in ops:
        if not isinstance(raw, dict):
            raise invalid_syntax("Each operation must be an object.")
        fields = {k.lower(): v for k, v in raw.items() if isinstance(k, str)}
        name = fields.get("op")
        if not isinstance(name, str) or name.lower() not in ("add", "replace", "remove"):
            raise invalid_syntax(f"Unknown operation {name!r}: use add, replace or remove.")
        path = fields.get("path")
        if path is not None and not isinstance(path, str):
            raise invalid_path("path must be a string.")
        if path is not None and not path.strip():
            path = None
        if name.lower() != "remove" and "value" not in fields:
            raise invalid_value(f"{name} needs a value.")
        out.append((name.lower(), path, fields.get("value")))  # type: ignore[arg-type]
    return out


class PatchEngine:
    """Applies operations to a copy of a resource's stored attributes."""

    def __init__(self, rtype: ResourceType, attrs: dict, *, resource_id: str,
                 relation: str | None = None) -> None:
        self.rtype = rtype
        self.attrs = copy.deepcopy(attrs)
        self.resource_id = resource_id
        self.relation = relation
        self.member_ops: list[MemberOp] = []
        self.password: str | None = None

    def run(self, operations: list[tuple[Op, str | None, Any]]) -> PatchResult:
        for op, path, value in operations:
            if path is None:
                self._pathless(op, value)
            else:
                self._apply(op, path, value, pathless=False)
        self._tidy()
        return PatchResult(self.attrs, self.member_ops, self.password)

    def _tidy(self) -> None:
        """Drop emptied values (RFC 7643 §2.5) and check that at most one value of each
        multi-valued attribute is primary (RFC 7643 §2.4)."""
        for schema in (self.rtype.schema, *self.rtype.extensions):
            container = self.attrs if schema is self.rtype.schema else self.attrs.get(schema.id)
            if not isinstance(container, dict):
                continue
            for attr in schema.attributes:
                value = container.get(attr.name)
                if attr.multi_valued and isinstance(value, list):
                    # An entry whose value was removed is gone (RFC 7643 §2.4: "value" is
                    # what a multi-valued entry is).
                    keyed = attr.sub("value") is not None
                    value = [v for v in value if v not in ({}, None)
                             and not (keyed and isinstance(v, dict) and "value" not in v)]
                    if sum(1 for v in value if isinstance(v, dict)
                           and v.get("primary") is True) > 1:
                        raise invalid_value(f"Only one of the {attr.name} may be primary.")
                if value in ({}, [], None):
                    container.pop(attr.name, None)
                else:
                    container[attr.name] = value
            if schema is not self.rtype.schema and not container:
                self.attrs.pop(schema.id, None)

    # -- targets ---------------------------------------------------------------

    def _pathless(self, op: Op, value: Any) -> None:
        if op == "remove":
            raise no_target("remove needs a path.")
        if not isinstance(value, dict):
            raise invalid_value("A PATCH operation without path needs an object value.")
        for key, sub_value in value.items():
            if not isinstance(key, str) or key.lower() == "schemas":
                continue
            schema = self.rtype.schema_for(key)
            if schema is not None and schema is not self.rtype.schema:
                if op == "replace" and isinstance(sub_value, dict):
                    for ext_key, ext_value in sub_value.items():
                        self._lenient(op, f"{schema.id}:{ext_key}", ext_value)
                else:
                    self._apply(op, schema.id, sub_value, pathless=True)
                continue
            self._lenient(op, key, sub_value)

    def _lenient(self, op: Op, key: str, value: Any) -> None:
        """Apply one key of a path-less value; unknown keys are ignored, as in POST."""
        try:
            self._apply(op, key, value, pathless=True)
        except ScimError as exc:
            if exc.scim_type != "invalidPath":
                raise

    def _apply(self, op: Op, text: str, value: Any, *, pathless: bool) -> None:
        urn, node = parse_path(text, self.rtype)
        if node is None:
            self._whole_extension(op, urn, value)
            return
        attr_path = node.attr_path if isinstance(node, ValuePath) else node
        res = resolve(self.rtype, attr_path, urn=urn, error=path_error)
        if res.attr.name == "password" and res.container_key is None:
            self._password(op, value)
            return
        if self._read_only(res, value, pathless):
            return
        if self.relation and res.attr.name == self.relation and res.container_key is None:
            self._relation(op, node, res, value)
            return
        container = self._container(res, create=op != "remove")
        if container is None:
            return
        if isinstance(node, ValuePath):
            self._value_path(op, node, res, container, value)
        elif res.sub is None:
            self._attribute(op, res.attr, container, value)
        else:
            self._sub_attribute(op, res, container, value)

    def _read_only(self, res: Resolved, value: Any, pathless: bool) -> bool:
        target = res.sub or res.attr
        if res.attr.mutability is not Mutability.READ_ONLY and \
                target.mutability is not Mutability.READ_ONLY:
            return False
        if pathless or (res.attr.name == "id" and value == self.resource_id):
            return True  # ignored, as read-only attributes are in POST and PUT
        raise mutability(f"{res} is read-only.")

    def _container(self, res: Resolved, *, create: bool) -> dict | None:
        if res.container_key is None:
            return self.attrs
        ext = self.attrs.get(res.container_key)
        if ext is None and create:
            ext = self.attrs[res.container_key] = {}
        return ext

    def _password(self, op: Op, value: Any) -> None:
        if op == "remove":
            raise mutability("password cannot be removed.")
        if not isinstance(value, str) or not value:
            raise invalid_value("password must be a non-empty string.")
        self.password = value

    def _whole_extension(self, op: Op, urn: str | None, value: Any) -> None:
        schema = self.rtype.schema_for(urn or "")
        if schema is None or schema is self.rtype.schema:
            raise invalid_path(f"{urn} is not an extension of {self.rtype.name}.")
        if op == "remove":
            self.attrs.pop(schema.id, None)
            return
        ext = normalize_extension(schema, value)
        target = self.attrs.setdefault(schema.id, {})
        for name, sub_value in ext.items():
            attr = schema.attribute(name)
            assert attr is not None
            self._attribute(op, attr, target, sub_value, normalized=True)
        if not target:
            self.attrs.pop(schema.id, None)

    def _attribute(self, op: Op, attr: Attribute, container: dict, value: Any,
                   *, normalized: bool = False) -> None:
        if op == "remove":
            if value is not None and attr.multi_valued and attr.is_complex:
                self._remove_listed(attr, container, value)
            else:
                container.pop(attr.name, None)
            return
        norm = value if normalized else normalize(attr, value)
        if norm is SKIP:
            if op == "replace":
                container.pop(attr.name, None)
            return
        if attr.multi_valued:
            current = container.get(attr.name) or [] if op == "add" else []
            for item in norm:
                if item not in current:
                    current.append(item)
            _single_primary(current, norm)
            container[attr.name] = current
        elif attr.is_complex:
            merged = dict(container.get(attr.name) or {})
            merged.update(norm)
            container[attr.name] = merged
        else:
            container[attr.name] = norm

    def _remove_listed(self, attr: Attribute, container: dict, value: Any) -> None:
        """``remove`` with a value list drops just the entries whose ``value`` is listed."""
        sub = attr.sub("value")
        exact = sub is not None and sub.case_exact

        def key(v: Any) -> str:
            return str(v) if exact else str(v).lower()

        items = value if isinstance(value, list) else [value]
        drop = set()
        for item in items:
            item_value = item.get("value") if isinstance(item, dict) else item
            if item_value is not None:
                drop.add(key(item_value))
        kept = [e for e in container.get(attr.name) or [] if key(e.get("value")) not in drop]
        if kept:
            container[attr.name] = kept
        else:
            container.pop(attr.name, None)

    def _sub_attribute(self, op: Op, res: Resolved, container: dict, value: Any) -> None:
        assert res.sub is not None
        current = container.get(res.attr.name)
        if res.attr.multi_valued:
            for element in current or []:
                self._set_sub(op, res.sub, element, value)
            return
        element = dict(current or {})
        self._set_sub(op, res.sub, element, value)
        if element:
            container[res.attr.name] = element
        else:
            container.pop(res.attr.name, None)

    def _set_sub(self, op: Op, sub: Attribute, element: dict, value: Any) -> None:
        if sub.mutability is Mutability.READ_ONLY:
            raise mutability(f"{sub.name} is read-only.")
        if op == "remove":
            element.pop(sub.name, None)
            return
        norm = normalize_single(sub, value[0] if isinstance(value, list) and len(value) == 1
                                else value)
        if norm is SKIP:
            element.pop(sub.name, None)
        else:
            element[sub.name] = norm

    def _value_path(self, op: Op, node: ValuePath, res: Resolved, container: dict,
                    value: Any) -> None:
        attr = res.attr
        if not attr.is_complex:
            raise invalid_path(f"{attr.name} has no sub-attributes to filter on.")
        current = container.get(attr.name)
        elements = current if isinstance(current, list) else ([current] if current else [])
        hits = [e for e in elements if matches(node.val_filter, e, self.rtype, res)]
        sub = attr.sub(node.sub_attr) if node.sub_attr else None
        if node.sub_attr and sub is None:
            raise invalid_path(f"{attr.name} has no sub-attribute {node.sub_attr!r}.")
        if op == "remove":
            if sub is None:
                kept = [e for e in elements if not any(e is h for h in hits)]
                _store(container, attr, kept)
            else:
                for hit in hits:
                    hit.pop(sub.name, None)
                _store(container, attr, [e for e in elements if e])
            return
        if not hits:
            if op == "replace":
                raise no_target(f"No value of {attr.name} matches {node.val_filter}.")
            raw = _entry_from_filter(node.val_filter)
            new = SKIP if raw is None else normalize_single(attr, raw)
            if new is SKIP:
                raise no_target(f"No value of {attr.name} matches {node.val_filter}.")
            elements.append(new)
            hits = [new]
        for hit in hits:
            if sub is not None:
                self._set_sub(op, sub, hit, value)
            else:
                norm = normalize_single(attr, value)
                if norm is not SKIP:
                    if op == "replace":  # matched values are replaced (RFC 7644 §3.5.2.3)
                        hit.clear()
                    hit.update(norm)
        if any(h.get("primary") is True for h in hits):
            _single_primary(elements, hits)
        _store(container, attr, [e for e in elements if e])

    def _relation(self, op: Op, node: Any, res: Resolved, value: Any) -> None:
        if isinstance(node, ValuePath):
            if op != "remove" or node.sub_attr:
                raise invalid_path("Only remove may select members with a filter.")
            self.member_ops.append(MemberOp("remove_where", filter=node.val_filter))
            return
        if res.sub is not None:
            raise mutability(f"{res} is immutable: add or remove whole members.")
        if op == "remove":
            if value is None:
                self.member_ops.append(MemberOp("remove_all"))
            else:
                norm = normalize(res.attr, value)
                self.member_ops.append(MemberOp("remove", [] if norm is SKIP else norm))
            return
        norm = normalize(res.attr, value)
        values = [] if norm is SKIP else norm
        self.member_ops.append(MemberOp("add" if op == "add" else "replace", values))


def _store(container: dict, attr: Attribute, elements: list) -> None:
    if elements:
        container[attr.name] = elements if attr.multi_valued else elements[0]
    else:
        container.pop(attr.name, None)


def _single_primary(elements: list, chosen: list) -> None:
    """Only one value may be primary (RFC 7643 §2.4): the newest primary wins."""
    new_primary = next((c for c in reversed(chosen) if isinstance(c, dict)
                        and c.get("primary") is True), None)
    if new_primary is None:
        return
    for element in elements:
        if element is not new_primary and isinstance(element, dict) \
                and element.get("primary") is True:
            element["primary"] = False


def _entry_from_filter(node: FilterNode) -> dict | None:
    """The new entry an ``add`` on an unmatched value selection creates: its ``eq`` terms."""
    terms = node.terms if isinstance(node, LogicalExpr) and node.op is LogicalOperator.and_ \
        else (node,)
    entry: dict[str, Any] = {}
    for term in terms:
        if not isinstance(term, Comparison) or term.op is not CompareOperator.eq \
                or not isinstance(term.attr_path, AttrPath) or term.attr_path.sub_attr:
            return None
        entry[term.attr_path.attr] = term.value
    return entry
