"""Typed attribute values: coercion of filter literals and stored values.

One set of rules (RFC 7644 §3.4.2.2) serves the in-memory filter evaluator and
the SQL compiler, so both give the same answer for every filter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scim2_models.path import CompareOperator

from scimd.scim.attributes import Attribute, AttrType
from scimd.scim.errors import invalid_filter

STRING_OPS = frozenset({CompareOperator.co, CompareOperator.sw, CompareOperator.ew})
ORDER_OPS = frozenset(
    {CompareOperator.gt, CompareOperator.ge, CompareOperator.lt, CompareOperator.le}
)
TEXT_TYPES = frozenset({AttrType.STRING, AttrType.REFERENCE, AttrType.BINARY})

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""How dateTime values are stored: UTC, fixed width, so text order is time order."""


def parse_datetime(text: str) -> datetime:
    """Parse an xsd:dateTime (RFC 7643 §2.3.5); a value without offset is taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if len(value) >= 5 and value[-5] in "+-" and value[-4:].isdigit() and ":" not in value[-5:]:
        value = value[:-2] + ":" + value[-2:]  # +0000 → +00:00, as Slack writes it
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """The stored form of a dateTime."""
    return value.astimezone(UTC).strftime(DATETIME_FORMAT)


def fold(value: str, attr: Attribute) -> str:
    """Case-fold a string unless the attribute is caseExact (RFC 7643 §2.1)."""
    return value if attr.case_exact else value.lower()


def coerce_boolean(value: Any) -> bool | None:
    """A JSON boolean, or Entra's ``"True"``/``"False"`` strings; ``None`` if neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def filter_operand(attr: Attribute, op: CompareOperator, value: Any) -> Any:
    """Check and convert a filter literal for comparison with ``attr``.

    Returns the value in the form it is compared in: folded text for strings,
    a ``bool``, a number, or the stored text form of a dateTime. ``None``
    means the literal ``null``. Raises 400 ``invalidFilter`` where RFC 7644
    §3.4.2.2 forbids the comparison.
    """
    if attr.is_complex:
        raise invalid_filter(f"{attr.name} is complex and cannot be compared directly.")
    if value is None:
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise invalid_filter("null can only be compared with eq or ne.")
        return None
    kind = attr.type
    if op in STRING_OPS and kind not in TEXT_TYPES:
        raise invalid_filter(f"{op.value} needs a string attribute; {attr.name} is {kind.value}.")
    if kind in TEXT_TYPES:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise invalid_filter(f"{attr.name} is compared with a string.")
        if kind is AttrType.BINARY and op not in (CompareOperator.eq, CompareOperator.ne):
            raise invalid_filter("Binary attributes only support eq and ne.")
        return fold(str(value), attr)
    if kind is AttrType.BOOLEAN:
        if op in ORDER_OPS:
            raise invalid_filter(f"{op.value} cannot compare booleans.")
        parsed = coerce_boolean(value)
        if parsed is None:
            raise invalid_filter(f"{attr.name} is compared with true or false.")
        return parsed
    if kind is AttrType.DATETIME:
        if not isinstance(value, str):
            raise invalid_filter(f"{attr.name} is compared with a dateTime string.")
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise invalid_filter(f"{value!r} is not a dateTime.") from None
    if kind in (AttrType.INTEGER, AttrType.DECIMAL):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid_filter(f"{attr.name} is compared with a number.")
        return value
    raise invalid_filter(f"{attr.name} cannot be filtered.")


def stored_operand(attr: Attribute, value: Any) -> Any:
    """Bring a stored value into the comparison form of :func:`filter_operand`."""
    if value is None:
        # "If not specified, the value of primary SHALL be assumed to be false" (RFC 7643 §2.4)
        return False if attr.name == "primary" and attr.type is AttrType.BOOLEAN else None
    if attr.type in TEXT_TYPES:
        return fold(value, attr) if isinstance(value, str) else None
    if attr.type is AttrType.BOOLEAN:
        return value if isinstance(value, bool) else None
    if attr.type in (AttrType.INTEGER, AttrType.DECIMAL):
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return value


def compare(op: CompareOperator, left: Any, right: Any) -> bool:
    """Apply ``op`` to a stored operand and a filter operand (both already coerced)."""
    if right is None:  # eq null: absent; ne null: present
        return (left is None) == (op is CompareOperator.eq)
    if left is None:
        return op is CompareOperator.ne
    if op is CompareOperator.eq:
        return left == right
    if op is CompareOperator.ne:
        return left != right
    if op is CompareOperator.co:
        return right in left
    if op is CompareOperator.sw:
        return left.startswith(right)
    if op is CompareOperator.ew:
        return left.endswith(right)
    if op is CompareOperator.gt:
        return left > right
    if op is CompareOperator.ge:
        return left >= right
    if op is CompareOperator.lt:
        return left < right
    return left <= right


def is_present(value: Any) -> bool:
    """The ``pr`` test (RFC 7644 §3.4.2.2): non-null, non-empty."""
    if value is None:
        return False
    if isinstance(value, (str, list, dict)):
        return bool(value)
    return True
