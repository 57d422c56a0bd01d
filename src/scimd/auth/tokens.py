"""Bearer-token authentication (RFC 6750 §2.1; spec §1.2).

The token names the tenant: URLs carry no tenant, as at Slack.
"""

from __future__ import annotations

from dataclasses import dataclass

from scimd.scim.errors import ScimError
from scimd.store import tenants
from scimd.store.db import Database
from scimd.store.records import Tenant


@dataclass(slots=True, frozen=True)
class Principal:
    """Who a request acts as: a tenant and the token that named it."""

    tenant: Tenant
    token_id: str
    scopes: frozenset[str]


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or ``None``."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(db: Database, header: str | None) -> Principal:
    """The request's principal; 401 ``missing_authentication`` or ``invalid_authentication``."""
    if not header:
        raise ScimError(401, "missing_authentication", "No bearer token was sent.",
                        headers={"WWW-Authenticate": 'Bearer realm="scimd"'})
    token = bearer(header)
    found = None
    if token is not None and len(token) <= 512:
        with db.read() as conn:
            found = tenants.tenant_for_token(conn, token)
    if found is None:
        raise ScimError(401, "invalid_authentication", "The bearer token is not valid.",
                        headers={"WWW-Authenticate": 'Bearer realm="scimd", error="invalid_token"'})
    tenant, token_id, scopes = found
    scope_set = frozenset(scopes.split())
    if "admin" not in scope_set:
        raise ScimError(401, "invalid_authentication", "The token lacks the admin scope.")
    return Principal(tenant, token_id, scope_set)
