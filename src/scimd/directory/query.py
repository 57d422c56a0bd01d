"""List queries: filter, sort and page (RFC 7644 §3.4.2)."""

from __future__ import annotations

from dataclasses import dataclass

from scim2_models.path import FilterNode

from scimd.scim.paths import Resolved


@dataclass(slots=True)
class ListQuery:
    """What a list or ``.search`` request asks for, already parsed and checked."""

    filter: FilterNode | None = None
    sort_by: Resolved | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    with_relations: bool = True
    """Load ``groups`` of users or ``members`` of groups (skipped when not returned)."""
    attrs_as_text: bool = False
    """An unfiltered, unsorted page may hold ``UserText``/``GroupText`` records, their
    attributes left as the stored JSON text for an answer that splices it in."""
    unknown_as_absent: bool = False
    """Read attributes the type lacks as unassigned (root searches, RFC 7644 §3.4.2.1)."""
