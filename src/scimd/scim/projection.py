"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9).

Applied to a rendered resource. Attributes whose ``returned`` is ``always``
(``id``, and ``schemas``) are kept whatever is asked; ``never`` ones were never
rendered; ``request`` ones appear only when named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scimd.scim.attributes import ResourceType, Returned
from scimd.scim.errors import invalid_value
from scimd.scim.paths import split_extension

MAX_NAMES = 200


@dataclass(slots=True)
class Projection:
    """Which attributes a response carries."""

    include: dict[tuple[str | None, str], set[str] | None] | None = None
    exclude: dict[tuple[str | None, str], set[str] | None] = field(default_factory=dict)
    include_extensions: set[str] = field(default_factory=set)
    exclude_extensions: set[str] = field(default_factory=set)

    def wants(self, name: str, urn: str | None = None) -> bool:
        """Whether the top-level attribute ``name`` is wanted (to skip loading it)."""
        key = (urn, name)
        if self.exclude.get(key, 0) is None:
            return False
        if self.include is None:
            return True
        return key in self.include or (urn is not None and urn in self.include_extensions)

    @property
    def everything(self) -> bool:
        """Whether the response carries every returned attribute (no ``attributes`` or
        ``excludedAttributes``, RFC 7644 §3.4.2.5): :meth:`apply` changes nothing."""
        return self.include is None and not self.exclude and not self.exclude_extensions

    def apply(self, doc: dict, rtype: ResourceType) -> dict:
        if self.everything:
            return doc
        out: dict = {}
        for key, value in doc.items():
            schema = rtype.schema_for(key) if ":" in key else None
            if schema is not None and isinstance(value, dict):
                sub = self._filter(value, schema.id, rtype, schema)
                if sub:
                    out[key] = sub
                continue
            if key == "schemas" or self._keep(None, key, rtype):
                kept = self._subs(None, key, value)
                if kept is not None:
                    out[key] = kept
        return out

    def _filter(self, ext: dict, urn: str, rtype: ResourceType, schema) -> dict:
        if urn in self.exclude_extensions:
            return {}
        out = {}
        for key, value in ext.items():
            attr = schema.attribute(key)
            if attr is None:
                continue
            if self.include is not None and urn not in self.include_extensions \
                    and (urn, attr.name) not in self.include:
                continue
            if self.exclude.get((urn, attr.name), 0) is None:
                continue
            kept = self._subs(urn, attr.name, value)
            if kept is not None:
                out[key] = kept
        return out

    def _keep(self, urn: str | None, name: str, rtype: ResourceType) -> bool:
        attr = _definition(rtype, name)
        returned = attr.returned if attr else Returned.DEFAULT
        if returned is Returned.ALWAYS:
            return True
        if self.exclude.get((urn, name), 0) is None:
            return False
        if self.include is None:
            return returned is not Returned.REQUEST or (urn, name) in self.exclude
        return (urn, name) in self.include

    def _subs(self, urn: str | None, name: str, value):
        """Keep only the named sub-attributes of a complex value, if any were named."""
        wanted = self.include.get((urn, name)) if self.include is not None else None
        dropped = self.exclude.get((urn, name))
        if not wanted and not dropped:
            return value

        def pick(obj):
            if not isinstance(obj, dict):
                return obj
            return {k: v for k, v in obj.items()
                    if (not wanted or k.lower() in wanted)
                    and not (dropped and k.lower() in dropped)}

        if isinstance(value, list):
            return [pick(v) for v in value]
        return pick(value)


def _definition(rtype: ResourceType, name: str):
    for common in rtype.common:
        if common.name == name:
            return common
    return rtype.schema.attribute(name)


def parse_projection(attributes: str | list | None, excluded: str | list | None,
                     rtype: ResourceType) -> Projection:
    """Read the two parameters (comma-separated in a query, lists in a SearchRequest)."""
    proj = Projection()
    if attributes:
        proj.include = {}
        for urn, name, sub in _names(attributes, rtype):
            if name is None:
                assert urn is not None
                proj.include_extensions.add(urn)
                continue
            key = (urn, name)
            if sub is None:
                proj.include[key] = None
            elif key not in proj.include or proj.include[key] is not None:
                proj.include.setdefault(key, set()).add(sub.lower())  # type: ignore[union-attr]
    if excluded:
        for urn, name, sub in _names(excluded, rtype):
            if name is None:
                assert urn is not None
                proj.exclude_extensions.add(urn)
                continue
            key = (urn, name)
            if sub is None:
                proj.exclude[key] = None
            elif proj.exclude.get(key, 0) is not None:
                proj.exclude.setdefault(key, set()).add(sub.lower())  # type: ignore[union-attr]
    return proj


def _names(raw: str | list, rtype: ResourceType):
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or len(items) > MAX_NAMES:
        raise invalid_value("attributes must be a list of attribute names.")
    for item in items:
        if not isinstance(item, str):
            raise invalid_value("attributes must be a list of attribute names.")
        text = item.strip()
        if not text:
            continue
        urn, rest = split_extension(text, rtype)
        if urn is not None and not rest:
            if urn == rtype.schema.id:
                continue
            yield urn, None, None
            continue
        if urn == rtype.schema.id:
            urn = None
        name, _, sub = rest.partition(".")
        schema = rtype.schema_for(urn) if urn else rtype.schema
        attr = schema.attribute(name) if schema else None
        if attr is None and urn is None:
            attr = next((c for c in rtype.common if c.name.lower() == name.lower()), None)
            if attr is None:
                for ext in rtype.extensions:  # an unqualified extension attribute
                    attr = ext.attribute(name)
                    if attr is not None:
                        urn = ext.id
                        break
        if attr is None:
            continue  # unknown names are ignored (RFC 7644 §3.4.2.5 does not forbid them)
        yield urn, attr.name, (sub or None)
