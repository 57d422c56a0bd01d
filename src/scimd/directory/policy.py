"""Dialect rules: what differs between the ``rfc`` and ``slack`` dialects.

The directory calls a policy at each write, so the rules live in one place
(DESIGN.md, "Rules live in one place") and both wire protocols share them. The
``rfc`` policy is a plain RFC 7643/7644 service provider; the ``slack`` one is in
:mod:`scimd.directory.slack_policy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scim2_models.path import FilterNode
from sqlalchemy import Connection

from scimd.scim.attributes import ResourceType
from scimd.scim.core_schemas import GROUP_TYPE, USER_TYPE
from scimd.store.records import Tenant, UserRecord


@dataclass(slots=True)
class UserWrite:
    """What a user write stores besides the attributes, as the rules decide it."""

    kind: str = "create"
    """``create``, ``replace`` (PUT) or ``patch``."""
    role: str | None = None
    """The user's new role, when the rules change it (guest conversion)."""


class Policy:
    """The ``rfc`` dialect: RFC 7643/7644 as written."""

    name = "rfc"
    user_type: ResourceType = USER_TYPE
    group_type: ResourceType = GROUP_TYPE
    default_page = 100
    unique_emails = False
    """Whether an email address may belong to only one user of the tenant."""
    delete_deactivates = False
    """Whether DELETE of a user deactivates it instead of removing it (RFC 7644 §3.6)."""
    groups_may_nest = True
    """Whether a group may be a member of a group (RFC 7643 §4.2)."""

    def check_body(self, body: dict, *, creating: bool) -> None:
        """Checks on the raw request body that normalisation would hide."""

    def prepare_user(self, conn: Connection, tenant: Tenant, attrs: dict,
                     old: UserRecord | None, write: UserWrite) -> dict:
        """Apply the dialect's rules to a user about to be written; may raise ScimError."""
        if old is None and "active" not in attrs:
            attrs["active"] = True  # a new user is active unless it says otherwise
        return attrs

    def prepare_group(self, conn: Connection, tenant: Tenant, attrs: dict) -> dict:
        return attrs

    def rewrite_filter(self, node: FilterNode) -> FilterNode:
        """Adapt a parsed filter to what the dialect stores."""
        return node

    def rewrite_operations(self, ops: list[tuple[str, str | None, Any]],
                           ) -> list[tuple[str, str | None, Any]]:
        """Adapt PATCH operations to what the dialect stores."""
        return ops

    def check_password_change(self, old: UserRecord) -> None:
        """Refuse changing the password of an existing user, where the dialect does."""

    def max_group_members(self, tenant: Tenant) -> int | None:
        """The most members a group of the tenant may have, if capped."""
        return None

    def check_members(self, conn: Connection, tenant: Tenant, user_pks: list[int]) -> None:
        """Refuse users that cannot join a group."""


RFC = Policy()
POLICIES: dict[str, Policy] = {"rfc": RFC}


def register(policy: Policy) -> None:
    POLICIES[policy.name] = policy


def policy_named(name: str) -> Policy:
    """The policy of a dialect by name (``rfc`` for an unknown one)."""
    if "slack" not in POLICIES:  # the slack policy registers itself when imported
        from scimd.directory import slack_policy  # noqa: F401
    return POLICIES.get(name, RFC)


def policy_for(tenant: Tenant) -> Policy:
    """The policy of the tenant's dialect."""
    return policy_named(tenant.dialect)
