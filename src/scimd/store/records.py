"""Plain records the store returns: what a row holds, without SQL types."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Tenant:
    """A tenant: a Business+ workspace, an Enterprise Grid organization or workspace."""

    pk: int
    id: str
    name: str
    plan: str
    dialect: str
    parent_pk: int | None = None
    domain: str | None = None

    @property
    def user_prefix(self) -> str:
        """``W`` for Enterprise Grid organization users, ``U`` otherwise (spec §0)."""
        return "W" if self.plan == "enterprise" else "U"


@dataclass(slots=True)
class UserRecord:
    pk: int
    id: str
    attrs: dict
    active: bool
    created_at: str
    modified_at: str
    version: int
    role: str = "member"
    is_bot: bool = False
    erased: bool = False
    groups: list[dict] | None = None


@dataclass(slots=True)
class GroupRecord:
    pk: int
    id: str
    attrs: dict
    created_at: str
    modified_at: str
    version: int
    members: list[dict] | None = field(default=None)


@dataclass(slots=True)
class UserText:
    """A user as a list page reads it for splicing: its attributes are still the stored
    JSON text, never decoded (``v2_render.user_json``; docs/decisions.md)."""

    pk: int
    id: str
    attrs_json: bytes
    created_at: str
    modified_at: str
    version: int
    role: str = "member"
    groups: list[dict] | None = None


@dataclass(slots=True)
class GroupText:
    """A group as a list page reads it for splicing (see :class:`UserText`)."""

    pk: int
    id: str
    attrs_json: bytes
    created_at: str
    modified_at: str
    version: int
    members: list[dict] | None = field(default=None)


@dataclass(slots=True)
class Page:
    """One page of a list: the total number of matches and the records on the page."""

    total: int
    items: list


@dataclass(slots=True, frozen=True)
class Actor:
    """Who makes a change, for the audit log (and whether it is only a dry run)."""

    kind: str = "cli"
    """``scim`` (a request) or ``cli`` (an operator)."""
    token_id: str | None = None
    user_id: str | None = None
    role: str = "owner"
    """The role of the token's user; an admin's token cannot touch owners."""
    client: str | None = None
    dry_run: bool = False
    """Validate and answer, but write nothing (``Scimd-Dry-Run: 1``)."""


CLI = Actor()
