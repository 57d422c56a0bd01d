"""Dialect rules: what differs between the ``rfc`` and ``slack`` dialects.

The directory calls a policy at each write, so the rules live in one place
(DESIGN.md, "Rules live in one place") and both wire protocols share them. The
``rfc`` policy is a plain RFC 7643/7644 service provider.
"""

from __future__ import annotations

from sqlalchemy import Connection

from scimd.scim.attributes import ResourceType
from scimd.scim.core_schemas import GROUP_TYPE, USER_TYPE
from scimd.store.records import Tenant, UserRecord


class Policy:
    """The ``rfc`` dialect: RFC 7643/7644 as written."""

    name = "rfc"
    user_type: ResourceType = USER_TYPE
    group_type: ResourceType = GROUP_TYPE
    unique_emails = False
    """Whether an email address may belong to only one user of the tenant."""
    delete_deactivates = False
    """Whether DELETE of a user deactivates it instead of removing it (RFC 7644 §3.6)."""
    groups_may_nest = True
    """Whether a group may be a member of a group (RFC 7643 §4.2)."""

    def prepare_user(self, conn: Connection, tenant: Tenant, attrs: dict,
                     old: UserRecord | None) -> dict:
        """Apply the dialect's rules to a user about to be written; may raise ScimError."""
        if old is None and "active" not in attrs:
            attrs["active"] = True
        return attrs

    def prepare_group(self, conn: Connection, tenant: Tenant, attrs: dict) -> dict:
        return attrs


RFC = Policy()
POLICIES: dict[str, Policy] = {"rfc": RFC}


def policy_for(tenant: Tenant) -> Policy:
    """The policy of the tenant's dialect."""
    return POLICIES.get(tenant.dialect, RFC)
