"""Attribute and schema definitions (RFC 7643 §2 and §7).

Every rule the server applies to a resource attribute (its type, whether it is
multi-valued, case sensitivity, mutability, when it is returned, uniqueness and
canonical values) is read from these definitions, so validation, filtering,
PATCH and the ``/Schemas`` documents all agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AttrType(StrEnum):
    """Attribute data types (RFC 7643 §2.3)."""

    STRING = "string"
    BOOLEAN = "boolean"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATETIME = "dateTime"
    BINARY = "binary"
    REFERENCE = "reference"
    COMPLEX = "complex"


class Mutability(StrEnum):
    """Attribute mutability (RFC 7643 §7)."""

    READ_ONLY = "readOnly"
    READ_WRITE = "readWrite"
    IMMUTABLE = "immutable"
    WRITE_ONLY = "writeOnly"


class Returned(StrEnum):
    """When an attribute is returned (RFC 7643 §7)."""

    ALWAYS = "always"
    NEVER = "never"
    DEFAULT = "default"
    REQUEST = "request"


class Uniqueness(StrEnum):
    """Attribute uniqueness (RFC 7643 §7)."""

    NONE = "none"
    SERVER = "server"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute definition (RFC 7643 §7, "attributes")."""

    name: str
    type: AttrType = AttrType.STRING
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = Mutability.READ_WRITE
    returned: Returned = Returned.DEFAULT
    uniqueness: Uniqueness = Uniqueness.NONE
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()
    _by_name: dict[str, Attribute] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for sub in self.sub_attributes:
            self._by_name[sub.name.lower()] = sub

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name``, matched case-insensitively (RFC 7643 §2.1)."""
        return self._by_name.get(name.lower())

    @property
    def is_complex(self) -> bool:
        return self.type is AttrType.COMPLEX

    def to_document(self) -> dict:
        """Render as an entry of a ``/Schemas`` resource (RFC 7643 §7)."""
        doc: dict = {
            "name": self.name,
            "type": self.type.value,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
        }
        if self.canonical_values:
            doc["canonicalValues"] = list(self.canonical_values)
        if self.type in (AttrType.STRING, AttrType.REFERENCE, AttrType.BINARY):
            doc["caseExact"] = self.case_exact
        doc["mutability"] = self.mutability.value
        doc["returned"] = self.returned.value
        if self.type is not AttrType.COMPLEX and self.type is not AttrType.BOOLEAN:
            doc["uniqueness"] = self.uniqueness.value
        if self.reference_types:
            doc["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            doc["subAttributes"] = [s.to_document() for s in self.sub_attributes]
        return doc


@dataclass(frozen=True, slots=True)
class Schema:
    """A schema: a URN and its attributes (RFC 7643 §7)."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _by_name: dict[str, Attribute] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for attr in self.attributes:
            self._by_name[attr.name.lower()] = attr

    def attribute(self, name: str) -> Attribute | None:
        """The attribute called ``name``, matched case-insensitively (RFC 7643 §2.1)."""
        return self._by_name.get(name.lower())

    def to_document(self, location: str) -> dict:
        """Render as a ``/Schemas`` resource (RFC 7643 §7)."""
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_document() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": location},
        }


@dataclass(frozen=True, slots=True)
class ResourceType:
    """A resource type: endpoint, core schema and extensions (RFC 7643 §6)."""

    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[Schema, ...] = ()
    common: tuple[Attribute, ...] = ()

    def schema_for(self, urn: str) -> Schema | None:
        """The core or extension schema with URN ``urn`` (case-insensitive, RFC 8141 §3.1)."""
        low = urn.lower()
        if self.schema.id.lower() == low:
            return self.schema
        for ext in self.extensions:
            if ext.id.lower() == low:
                return ext
        return None

    def to_document(self, location: str) -> dict:
        """Render as a ``/ResourceTypes`` resource (RFC 7643 §6)."""
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": [{"schema": e.id, "required": False} for e in self.extensions],
            "meta": {"resourceType": "ResourceType", "location": location},
        }
