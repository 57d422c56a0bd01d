"""Compiling SCIM filters and sort keys to SQL (RFC 7644 §3.4.2.2, §3.4.2.3).

A filter becomes one SQL boolean expression over the resource table: promoted
attributes (``userName``, ``externalId``, ``displayName``, ``active``, ``meta``
timestamps) use their indexed columns, ``emails`` and group membership use
their own tables, everything else reads the JSON document. Multi-valued
attributes become ``EXISTS`` over their elements. Every leaf condition is
NULL-free, so ``not`` means exactly what the in-memory evaluator
(``scimd.scim.evaluate``) says it means; the property tests hold the two to the
same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from sqlalchemy import (
    ColumnElement,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from scimd.scim.attributes import Attribute, AttrType, ResourceType
from scimd.scim.errors import ScimError, invalid_filter
from scimd.scim.paths import Resolved, resolve
from scimd.scim.values import TEXT_TYPES, filter_operand
from scimd.store import tables as t

Expr = ColumnElement[Any]
Cond = ColumnElement[bool]


class Dialect:
    """The few places SQLite and PostgreSQL SQL differ for JSON and strings."""

    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def json_value(self, doc: Expr, keys: list[str], kind: AttrType) -> Expr:
        """A scalar inside a JSON document, typed for comparison."""
        if not self.pg:
            return func.json_extract(doc, "$" + "".join(f'."{k}"' for k in keys))
        if kind is AttrType.BOOLEAN:
            return func.jsonb_extract_path(doc, *keys)
        text = func.jsonb_extract_path_text(doc, *keys)
        if kind in (AttrType.INTEGER, AttrType.DECIMAL):
            return cast(text, Numeric)
        return text

    def json_node(self, doc: Expr, keys: list[str]) -> Expr:
        """A JSON sub-document (object or array), ``NULL`` when absent."""
        if not self.pg:
            return func.json_extract(doc, "$" + "".join(f'."{k}"' for k in keys))
        return func.jsonb_extract_path(doc, *keys)

    def elements(self, doc: Expr, keys: list[str], *, ordinal: bool = False):
        """A FROM-able set of the elements of a JSON array, with a ``value`` column
        (and an ``ordinal`` position column when asked)."""
        if not self.pg:
            path = "$" + "".join(f'."{k}"' for k in keys)
            columns = ("value", "key") if ordinal else ("value",)
            table = func.json_each(doc, path).table_valued(*columns).alias()
            if ordinal:
                return _Ordinal(table, table.c.key)
            return table
        fn = func.jsonb_array_elements(func.jsonb_extract_path(doc, *keys))
        if ordinal:
            table = fn.table_valued("value", with_ordinality="ordinal").render_derived().alias()
            return _Ordinal(table, table.c.ordinal)
        return fn.table_valued("value").alias()

    def bool_literal(self, value: bool, json: bool) -> Expr:
        if json and self.pg:
            return cast(literal("true" if value else "false"), JSONB)
        if json:
            return literal(1 if value else 0)
        return literal(value)

    def collate(self, expr: Expr) -> Expr:
        """Code-point order on PostgreSQL, as SQLite and Python compare strings."""
        return expr.collate("C") if self.pg else expr

    def starts_with(self, expr: Expr, value: str) -> Cond:
        if self.pg:
            return func.left(expr, len(value)) == value
        return func.substr(expr, 1, len(value)) == value

    def ends_with(self, expr: Expr, value: str) -> Cond:
        if self.pg:
            return func.right(expr, len(value)) == value
        return func.substr(expr, -len(value)) == value

    def contains(self, expr: Expr, value: str) -> Cond:
        return (func.strpos(expr, value) if self.pg else func.instr(expr, value)) > 0


class _Ordinal:
    """A table-valued function with its position column exposed as ``c.ordinal``."""

    def __init__(self, table: Any, ordinal: Any) -> None:
        self.table = table
        self.c = _Columns(table.c.value, ordinal)

    def __clause_element__(self) -> Any:
        return self.table


@dataclass(frozen=True, slots=True)
class _Columns:
    value: Any
    ordinal: Any


def _absent(node: Present | Comparison) -> Cond:
    """How an unassigned attribute answers a test (the evaluator's ``compare`` with None)."""
    if isinstance(node, Present):
        return false()
    if node.value is None:
        return true() if node.op is CompareOperator.eq else false()
    return true() if node.op is CompareOperator.ne else false()


@dataclass(frozen=True, slots=True)
class Field:
    """Where a comparison reads its value: an SQL expression and how it is typed."""

    expr: Expr
    kind: AttrType
    folded: bool = False  # the column already holds the lower-cased value
    json: bool = False    # a JSON scalar (booleans then compare as JSON)
    nullable: bool = True


class ElementScope:
    """Sub-attributes of one element: a JSON object, or a row of a side table."""

    def __init__(self, fields: Callable[[Attribute], Field | None]) -> None:
        self.fields = fields


class FilterCompiler:
    """Compiles filters over one resource type's table."""

    def __init__(self, dialect_name: str, rtype: ResourceType, *,
                 unknown_as_absent: bool = False, tenant_pk: int | None = None) -> None:
        """``unknown_as_absent``: an attribute the type does not have reads as unassigned
        instead of raising (a root search over several types, RFC 7644 §3.4.2.1).
        ``tenant_pk`` lets email conditions use their index for one tenant."""
        self.unknown_as_absent = unknown_as_absent
        self.tenant_pk = tenant_pk
        self.d = Dialect(dialect_name)
        self.rtype = rtype
        self.is_user = rtype.name == "User"
        self.table = t.users if self.is_user else t.groups

    # -- public ----------------------------------------------------------------

    def compile(self, node: FilterNode) -> Cond:
        """The SQL condition for ``node`` (raises 400 ``invalidFilter``)."""
        if isinstance(node, LogicalExpr):
            parts = [self.compile(term) for term in node.terms]
            return and_(*parts) if node.op is LogicalOperator.and_ else or_(*parts)
        if isinstance(node, Not):
            return not_(self.compile(node.expr))
        if isinstance(node, ValuePath):
            res = resolve(self.rtype, node.attr_path)
            if not res.attr.is_complex or res.sub is not None:
                raise invalid_filter(f"{res} cannot take a value filter.")
            return self._collection(res, lambda scope: self._scoped(node.val_filter, res, scope))
        if isinstance(node, (Present, Comparison)):
            path = node.attr_path
            if path.uri is None and path.sub_attr is None and path.attr.lower() == "schemas":
                return self._schemas(node)
            try:
                res = resolve(self.rtype, path)
            except ScimError:
                if not self.unknown_as_absent:
                    raise
                return _absent(node)
            if isinstance(node, Present):
                return self._present(res)
            return self._comparison(res, node.op, node.value)
        raise invalid_filter("Unsupported filter expression.")

    def _schemas(self, node: Present | Comparison) -> Cond:
        """``schemas`` (RFC 7644 §3.4.2.2 example): the core URN and each extension present."""
        if isinstance(node, Present):
            return true()
        if node.op not in (CompareOperator.eq, CompareOperator.ne) \
                or not isinstance(node.value, str):
            raise invalid_filter("schemas can only be compared with eq or ne and a URN.")
        urn = node.value.lower()
        if urn == self.rtype.schema.id.lower():
            cond: Cond = true()
        else:
            ext = next((e for e in self.rtype.extensions if e.id.lower() == urn), None)
            cond = self.d.json_node(self.table.c.attrs, [ext.id]).is_not(None) \
                if ext is not None else false()
        return cond if node.op is CompareOperator.eq else not_(cond)

    def order_by(self, res: Resolved, descending: bool) -> list[Expr]:
        """ORDER BY terms for ``sortBy``: missing values last when ascending and first
        when descending, as RFC 7644 §3.4.2.3 orders them."""
        key = self.sort_key(res)
        if descending:
            return [key.is_(None).desc(), key.desc()]
        return [key.is_(None), key.asc()]

    def sort_key(self, res: Resolved) -> Expr:
        """The expression to sort by ``res`` (RFC 7644 §3.4.2.3)."""
        if res.attr.multi_valued and res.attr.is_complex:
            sub = res.sub or res.attr.sub("value")
            if sub is None:
                raise invalid_filter(f"{res} cannot be sorted on.")
            if self.is_user and res.attr.name == "emails" and res.container_key is None:
                e = t.user_emails
                column = e.c.value_lower if sub.name == "value" else e.c[sub.name]
                return select(column).where(e.c.user_pk == t.users.c.pk) \
                    .order_by(e.c.primary.desc(), e.c.pk).limit(1).scalar_subquery()
            return self._primary_value(res, sub)
        if res.attr.is_complex and res.sub is None:
            raise invalid_filter(f"{res} is complex and cannot be sorted on.")
        field = self._field(res)
        if field is None:
            raise invalid_filter(f"{res} cannot be sorted on.")
        expr = field.expr
        if field.kind in TEXT_TYPES:
            if not field.folded and not (res.leaf.case_exact):
                expr = func.lower(expr)
            expr = self.d.collate(expr)
        return expr

    def _primary_value(self, res: Resolved, sub: Attribute) -> Expr:
        """The primary (else first) element's ``sub`` of a JSON multi-valued attribute."""
        elems = self.d.elements(self.table.c.attrs, self._keys(res), ordinal=True)
        value = self.d.json_value(elems.c.value, [sub.name], sub.type)
        primary = self.d.json_value(elems.c.value, ["primary"], AttrType.BOOLEAN)
        is_primary = primary == self.d.bool_literal(True, json=True)
        if sub.type in TEXT_TYPES and not sub.case_exact:
            value = func.lower(value)
        return select(value).select_from(elems) \
            .order_by(case((is_primary, 0), else_=1), elems.c.ordinal).limit(1).scalar_subquery()

    # -- leaves ------------------------------------------------------------------

    def _comparison(self, res: Resolved, op: CompareOperator, value: Any) -> Cond:
        leaf = res.leaf
        if res.attr.multi_valued and res.attr.is_complex:
            # Without a sub-attribute, a multi-valued attribute compares its "value"
            # (RFC 7644 §3.4.2.2: emails co "example.com").
            sub = res.sub or res.attr.sub("value")
            if sub is None:
                raise invalid_filter(f"{res} cannot be compared.")
            operand = filter_operand(sub, op, value)
            # An attribute with no values is unassigned (RFC 7643 §2.5): only "ne x" and
            # "eq null" hold for it, as in the evaluator.
            empty_matches = op is (CompareOperator.eq if operand is None else CompareOperator.ne)
            return self._collection(
                res, lambda scope: self._leaf(scope.fields(sub), sub, op, operand),
                empty_matches=empty_matches)
        operand = filter_operand(leaf, op, value)
        field = self._field(res)
        if field is None:
            raise invalid_filter(f"{res} cannot be filtered on.")
        return self._leaf(field, leaf, op, operand)

    def _present(self, res: Resolved) -> Cond:
        if res.attr.multi_valued and res.attr.is_complex:
            if res.sub is None:
                return self._collection(res, lambda scope: true())
            sub = res.sub
            return self._collection(res, lambda scope: self._present_field(scope.fields(sub)))
        if res.attr.is_complex and res.sub is None:
            if res.attr.name == "meta":
                return true()
            return self.d.json_node(self.table.c.attrs, self._keys(res)).is_not(None)
        field = self._field(res)
        if field is None:
            raise invalid_filter(f"{res} cannot be filtered on.")
        return self._present_field(field)

    def _present_field(self, field: Field | None) -> Cond:
        if field is None:
            return false()
        cond = field.expr.is_not(None)
        if field.kind in TEXT_TYPES:
            cond = and_(cond, field.expr != "")
        return cond

    def _leaf(self, field: Field | None, attr: Attribute, op: CompareOperator,
              operand: Any) -> Cond:
        if field is None:
            raise invalid_filter(f"{attr.name} cannot be filtered on.")
        expr = field.expr
        if operand is None:
            return expr.is_(None) if op is CompareOperator.eq else expr.is_not(None)
        if field.kind in TEXT_TYPES:
            if not attr.case_exact and not field.folded:
                expr = func.lower(expr)
            cond = self._text(expr, op, operand)
        elif field.kind is AttrType.BOOLEAN:
            lit = self.d.bool_literal(operand, field.json)
            cond = expr == lit if op is CompareOperator.eq else expr != lit
        else:
            cond = _ordering(expr, op, operand)
        if op is CompareOperator.ne:
            return or_(field.expr.is_(None), cond) if field.nullable else cond
        return and_(field.expr.is_not(None), cond) if field.nullable else cond

    def _text(self, expr: Expr, op: CompareOperator, value: str) -> Cond:
        if op is CompareOperator.co:
            return true() if value == "" else self.d.contains(expr, value)
        if op is CompareOperator.sw:
            return true() if value == "" else self.d.starts_with(expr, value)
        if op is CompareOperator.ew:
            return true() if value == "" else self.d.ends_with(expr, value)
        if op in (CompareOperator.eq, CompareOperator.ne):
            return _ordering(expr, op, value)
        return _ordering(self.d.collate(expr), op, value)

    def _text_fold(self, expr: Expr, attr: Attribute) -> Expr:
        return expr if attr.case_exact else func.lower(expr)

    # -- where values live -------------------------------------------------------------

    def _keys(self, res: Resolved) -> list[str]:
        keys = [res.container_key] if res.container_key else []
        keys.append(res.attr.name)
        if res.sub is not None and not res.attr.multi_valued:
            keys.append(res.sub.name)
        return keys

    def _field(self, res: Resolved) -> Field | None:
        """The SQL value of a single-valued attribute or sub-attribute."""
        c = self.table.c
        name = res.attr.name
        if res.schema is None:  # common attributes, RFC 7643 §3.1
            if name == "id":
                return Field(c.id, AttrType.STRING, nullable=False)
            if name == "externalId":
                return Field(c.external_id, AttrType.STRING)
            sub = res.sub.name if res.sub else None
            if sub == "created":
                return Field(c.created_at, AttrType.DATETIME, nullable=False)
            if sub == "lastModified":
                return Field(c.modified_at, AttrType.DATETIME, nullable=False)
            if sub == "resourceType":
                return Field(literal(self.rtype.name, String), AttrType.STRING, nullable=False)
            return None
        if res.container_key is None and res.sub is None:
            if name == "userName" and self.is_user:
                return Field(c.user_name_lower, AttrType.STRING, folded=True, nullable=False)
            if name == "displayName":
                return Field(c.display_name_lower, AttrType.STRING, folded=True,
                             nullable=self.is_user)
        leaf = res.leaf
        return Field(self.d.json_value(c.attrs, self._keys(res), leaf.type), leaf.type,
                     json=True)

    def _collection(self, res: Resolved, build: Callable[[ElementScope], Cond],
                    *, empty_matches: bool = False) -> Cond:
        """``EXISTS`` over the elements of a multi-valued (or one complex) attribute."""
        if self.is_user and res.container_key is None and res.attr.name == "emails":
            e = t.user_emails
            scope = ElementScope(lambda sub: _email_field(e, sub))
            any_row = exists().where(e.c.user_pk == t.users.c.pk)
            if self.tenant_pk is not None:  # uses the (tenant_pk, value_lower) index
                hit = t.users.c.pk.in_(select(e.c.user_pk).where(
                    e.c.tenant_pk == self.tenant_pk, build(scope)))
            else:
                hit = exists().where(e.c.user_pk == t.users.c.pk, build(scope))
        elif res.container_key is None and res.attr.name in ("groups", "members"):
            hit, any_row = self._membership(res, build)
        elif res.attr.multi_valued:
            elems = self.d.elements(self.table.c.attrs, self._keys(res))
            value = elems.c.value
            scope = ElementScope(lambda sub: self._element_field(value, sub))
            hit = select(literal(1)).select_from(elems).where(build(scope)).exists()
            any_row = select(literal(1)).select_from(elems).exists()
        else:  # one complex value: name[givenName eq "x"]
            doc = self.d.json_node(self.table.c.attrs, self._keys(res))
            scope = ElementScope(lambda sub: Field(
                self.d.json_value(doc, [sub.name], sub.type), sub.type, json=True))
            return and_(doc.is_not(None), build(scope))
        return or_(hit, not_(any_row)) if empty_matches else hit

    def _membership(self, res: Resolved, build: Callable[[ElementScope], Cond]):
        m = t.memberships
        if self.is_user:  # User.groups: the groups this user is a direct member of
            g = t.groups.alias("member_of")
            scope = ElementScope(lambda sub: _group_field(g, sub))
            base = select(literal(1)).select_from(m.join(g, g.c.pk == m.c.group_pk)) \
                .where(m.c.user_pk == t.users.c.pk)
            return base.where(build(scope)).exists(), base.exists()
        u = t.users.alias("member_user")
        child = t.groups.alias("member_group")
        scope = ElementScope(lambda sub: _member_field(u, child, sub))
        base = select(literal(1)).select_from(
            m.outerjoin(u, u.c.pk == m.c.user_pk).outerjoin(child, child.c.pk == m.c.child_pk)
        ).where(m.c.group_pk == t.groups.c.pk)
        return base.where(build(scope)).exists(), base.exists()

    def _element_field(self, element: Expr, sub: Attribute) -> Field:
        """A sub-attribute of a JSON element; a missing ``primary`` is false (RFC 7643 §2.4)."""
        expr = self.d.json_value(element, [sub.name], sub.type)
        if sub.name == "primary" and sub.type is AttrType.BOOLEAN:
            return Field(func.coalesce(expr, self.d.bool_literal(False, json=True)),
                         AttrType.BOOLEAN, json=True, nullable=False)
        return Field(expr, sub.type, json=True)

    def _scoped(self, node: FilterNode, parent: Resolved, scope: ElementScope) -> Cond:
        """Compile the filter inside a value path against one element."""
        if isinstance(node, LogicalExpr):
            parts = [self._scoped(term, parent, scope) for term in node.terms]
            return and_(*parts) if node.op is LogicalOperator.and_ else or_(*parts)
        if isinstance(node, Not):
            return not_(self._scoped(node.expr, parent, scope))
        if isinstance(node, Present):
            sub = resolve(self.rtype, node.attr_path, parent=parent).leaf
            return self._present_field(scope.fields(sub))
        if isinstance(node, Comparison):
            sub = resolve(self.rtype, node.attr_path, parent=parent).leaf
            operand = filter_operand(sub, node.op, node.value)
            return self._leaf(scope.fields(sub), sub, node.op, operand)
        raise invalid_filter("Value filters cannot nest.")


def _ordering(expr: Expr, op: CompareOperator, value: Any) -> Cond:
    return {
        CompareOperator.eq: lambda: expr == value,
        CompareOperator.ne: lambda: expr != value,
        CompareOperator.gt: lambda: expr > value,
        CompareOperator.ge: lambda: expr >= value,
        CompareOperator.lt: lambda: expr < value,
        CompareOperator.le: lambda: expr <= value,
    }[op]()


def _email_field(e, sub: Attribute) -> Field | None:
    if sub.name == "value":
        return Field(e.c.value_lower, AttrType.STRING, folded=True, nullable=False)
    if sub.name == "type":
        return Field(e.c.type, AttrType.STRING)
    if sub.name == "primary":
        return Field(e.c.primary, AttrType.BOOLEAN, nullable=False)
    if sub.name == "display":
        return Field(e.c.display, AttrType.STRING)
    return None


def _group_field(g, sub: Attribute) -> Field | None:
    if sub.name == "value":
        return Field(g.c.id, AttrType.STRING, nullable=False)
    if sub.name == "display":
        return Field(g.c.display_name_lower, AttrType.STRING, folded=True, nullable=False)
    if sub.name == "type":
        return Field(literal("direct", String), AttrType.STRING, nullable=False)
    return None


def _member_field(u, child, sub: Attribute) -> Field | None:
    if sub.name == "value":
        return Field(func.coalesce(u.c.id, child.c.id), AttrType.STRING, nullable=False)
    if sub.name == "display":
        return Field(func.coalesce(u.c.display_name, u.c.user_name, child.c.display_name),
                     AttrType.STRING)
    if sub.name == "type":
        return Field(case((u.c.pk.is_not(None), literal("User")), else_=literal("Group")),
                     AttrType.STRING, nullable=False)
    return None



def indexed_equality(rtype: ResourceType, node: FilterNode) -> tuple[str, str] | None:
    """``(column, operand)`` when ``node`` is a user filter that one index answers:
    ``eq`` with a string on ``userName``, ``externalId``, ``id`` or ``emails(.value)``
    (what identity providers send before every create). The operand is folded as the
    compiled filter folds it; anything else is ``None`` and goes through :meth:`compile`."""
    if (rtype.name != "User" or not isinstance(node, Comparison)
            or node.op is not CompareOperator.eq or not isinstance(node.value, str)):
        return None
    try:
        res = resolve(rtype, node.attr_path)
    except ScimError:
        return None
    name = res.attr.name
    if res.schema is None and res.sub is None and name in ("id", "externalId"):
        column = "id" if name == "id" else "external_id"
    elif res.container_key is None and name == "userName" and res.sub is None:
        column = "user_name_lower"
    elif res.container_key is None and name == "emails" and (
            res.sub is None or res.sub.name == "value"):
        column = "email"
    else:
        return None
    leaf = res.attr.sub("value") if column == "email" else res.leaf
    if leaf is None:
        return None
    return column, filter_operand(leaf, CompareOperator.eq, node.value)


def member_condition(dialect_name: str, rtype: ResourceType, node: FilterNode,
                     user_alias: Any, group_alias: Any) -> Cond:
    """The condition a ``members[...]`` PATCH path selects, over membership rows."""
    from scim2_models.path import AttrPath

    compiler = FilterCompiler(dialect_name, rtype)
    parent = resolve(rtype, AttrPath("members"))
    scope = ElementScope(lambda sub: _member_field(user_alias, group_alias, sub))
    return compiler._scoped(node, parent, scope)
