"""Schema-driven validation and normalisation of resource bodies (RFC 7643 §2, §7).

A body from a client becomes the stored form: attribute names in their
canonical spelling, extension attributes under their schema URN, values of the
declared types, ``null`` and empty values dropped (RFC 7643 §2.5), read-only
attributes ignored (RFC 7643 §7 ``mutability``). Unknown attributes and unknown
schema URNs are ignored, as identity providers send both (Entra's ADSCIM group
schema, top-level ``department``).
"""

from __future__ import annotations

import math
from typing import Any

from scimd.scim.attributes import Attribute, AttrType, Mutability, ResourceType, Schema
from scimd.scim.errors import ScimError, invalid_syntax, invalid_value, mutability
from scimd.scim.values import coerce_boolean, format_datetime, parse_datetime

MAX_STRING_LENGTH = 10_000
"""Longest string value kept in any attribute (a guard, not a schema rule)."""

MAX_MULTI_VALUES = 1_000
"""Most entries of a multi-valued attribute other than group members."""

SKIP = object()
"""Returned by the normalisers for values that are absent (``null``, empty)."""


def canonical_body(body: Any, rtype: ResourceType, *, ignore_read_only: bool = True) -> dict:
    """Normalise a whole resource body for POST or PUT (RFC 7644 §3.3, §3.5.1).

    Returns the stored form of the writable attributes, without ``id``,
    ``meta`` and other read-only attributes.
    """
    if not isinstance(body, dict):
        raise invalid_syntax("The request body must be a JSON object.")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str):
            continue
        schema = rtype.schema_for(key)
        if schema is not None and schema is not rtype.schema:
            ext = _tagged(schema.id, normalize_extension, schema, value, ignore_read_only)
            if ext:
                out[schema.id] = ext
            continue
        if ":" in key:
            continue  # an unknown schema URN, or an unknown URN-qualified name
        attr = rtype.schema.attribute(key)
        if attr is None:
            if key.lower() == "externalid":
                attr = next(c for c in rtype.common if c.name == "externalId")
            else:
                continue  # id, meta, schemas, unknown attributes
        if attr.mutability is Mutability.READ_ONLY:
            continue
        norm = _tagged(attr.name, normalize, attr, value)
        if norm is not SKIP:
            out[attr.name] = norm
    return out


def _tagged(name: str, fn, *args):
    """Run a normaliser, naming the attribute on the error it raises."""
    try:
        return fn(*args)
    except ScimError as exc:
        exc.attribute = exc.attribute or name
        raise


def normalize_extension(schema: Schema, value: Any, ignore_read_only: bool = True) -> dict:
    """Normalise an extension object (RFC 7643 §3.3)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_value(f"{schema.id} must be an object.")
    out: dict[str, Any] = {}
    for key, sub_value in value.items():
        attr = schema.attribute(key) if isinstance(key, str) else None
        if attr is None or (ignore_read_only and attr.mutability is Mutability.READ_ONLY):
            continue
        norm = normalize(attr, sub_value)
        if norm is not SKIP:
            out[attr.name] = norm
    return out


def normalize(attr: Attribute, value: Any) -> Any:
    """Normalise one attribute value; :data:`SKIP` when it is absent."""
    if value is None:
        return SKIP
    if attr.multi_valued:
        if not isinstance(value, (list, dict)):
            raise invalid_value(f"{attr.name} must be an array.")
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_MULTI_VALUES and attr.name != "members":
            raise invalid_value(f"{attr.name} has more than {MAX_MULTI_VALUES} values.")
        out = []
        required = [sub for sub in attr.sub_attributes if sub.required]
        for item in items:
            norm = normalize_single(attr, item)
            if required and isinstance(item, dict) and item and (
                    norm is SKIP or any(sub.name not in norm for sub in required)):
                missing = ", ".join(sub.name for sub in required)
                raise invalid_value(f"Each of the {attr.name} needs {missing}.")
            if norm is not SKIP:
                out.append(norm)
        if attr.is_complex:
            primaries = [i for i in out if isinstance(i, dict) and i.get("primary") is True]
            if len(primaries) > 1:
                raise invalid_value(f"Only one of the {attr.name} may be primary.")
        return out or SKIP
    if isinstance(value, list):
        # A one-element list for a single-valued attribute (Entra's manager).
        if len(value) != 1:
            raise invalid_value(f"{attr.name} is single-valued.")
        value = value[0]
    return normalize_single(attr, value)


def normalize_single(attr: Attribute, value: Any) -> Any:
    """Normalise one value of an attribute (a multi-valued attribute's element)."""
    if value is None:
        return SKIP
    if attr.is_complex:
        if not isinstance(value, dict):
            if isinstance(value, (str, int, float)) and not isinstance(value, bool) \
                    and attr.sub("value") is not None:
                value = {"value": value}  # a bare value for a complex attribute
            else:
                raise invalid_value(f"{attr.name} must be an object.")
        out: dict[str, Any] = {}
        for key, sub_value in value.items():
            sub = attr.sub(key) if isinstance(key, str) else None
            if sub is None or sub.mutability is Mutability.READ_ONLY:
                continue  # unknown, or read-only (RFC 7643 §7): ignored on input
            norm = normalize_single(sub, sub_value)
            if norm is not SKIP:
                out[sub.name] = norm
        return out or SKIP
    return scalar(attr, value)


def scalar(attr: Attribute, value: Any) -> Any:
    """Check and convert a simple value to the attribute's type (RFC 7643 §2.3)."""
    kind = attr.type
    if kind in (AttrType.STRING, AttrType.REFERENCE, AttrType.BINARY):
        if not isinstance(value, str):
            raise invalid_value(f"{attr.name} must be a string.")
        text = value
        if len(text) > MAX_STRING_LENGTH:
            raise invalid_value(f"{attr.name} is longer than {MAX_STRING_LENGTH} characters.")
        if attr.canonical_values and attr.name == "type" and attr.canonical_values == (
                "User", "Group"):
            match = next((c for c in attr.canonical_values if c.lower() == text.lower()), None)
            if match is None:
                raise invalid_value(f"{attr.name} must be one of {attr.canonical_values}.")
            return match
        return text
    if kind is AttrType.BOOLEAN:
        parsed = coerce_boolean(value)
        if parsed is None:
            raise invalid_value(f"{attr.name} must be a boolean.")
        return parsed
    if kind is AttrType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise invalid_value(f"{attr.name} must be an integer.")
        return value
    if kind is AttrType.DECIMAL:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise invalid_value(f"{attr.name} must be a number.")
        return value
    if kind is AttrType.DATETIME:
        if not isinstance(value, str):
            raise invalid_value(f"{attr.name} must be a dateTime string.")
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise invalid_value(f"{attr.name} is not a valid dateTime.") from None
    raise invalid_value(f"{attr.name} has an unsupported type.")


def check_required(attrs: dict, rtype: ResourceType, *, patching: bool = False) -> None:
    """Every required attribute is present (RFC 7643 §7 ``required``).

    On PATCH, unassigning a required attribute is a ``mutability`` error
    (RFC 7644 §3.5.2); on POST and PUT a missing one is ``invalidValue``.
    """
    for attr in rtype.schema.attributes:
        if attr.required and attr.mutability is not Mutability.READ_ONLY:
            value = attrs.get(attr.name)
            if value is None or value == "" or value == []:
                if patching:
                    raise mutability(f"{attr.name} is required and cannot be removed.")
                raise invalid_value(f"{attr.name} is required.", code="missing_required")
        if attr.is_complex and attr.multi_valued:
            for item in attrs.get(attr.name) or []:
                for sub in attr.sub_attributes:
                    if sub.required and sub.name not in item:
                        raise invalid_value(f"{attr.name}.{sub.name} is required.")


def check_immutable(new: dict, old: dict, rtype: ResourceType) -> None:
    """Immutable attributes keep their value once set (RFC 7643 §7 ``immutable``)."""
    for attr in rtype.schema.attributes:
        if attr.mutability is Mutability.IMMUTABLE and attr.name in old \
                and new.get(attr.name) != old[attr.name]:
            raise mutability(f"{attr.name} is immutable.")

