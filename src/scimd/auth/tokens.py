"""Bearer-token authentication (RFC 6750 §2.1; spec §1.2).

The token names the tenant: URLs carry no tenant, as at Slack.
"""

from __future__ import annotations

from dataclasses import dataclass

from scimd.auth.addresses import allowed
from scimd.scim.errors import ScimError
from scimd.store import tenants
from scimd.store.db import Database
from scimd.store.records import Tenant


@dataclass(slots=True, frozen=True)
class Principal:
    """Who a request acts as: a tenant, the token that named it and the token's user."""

    tenant: Tenant
    token_id: str
    scopes: frozenset[str]
    user_id: str | None = None
    role: str = "owner"


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or ``None``."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _invalid(detail: str) -> ScimError:
    return ScimError(401, "invalid_authentication", detail,
                     headers={"WWW-Authenticate": 'Bearer realm="scimd", error="invalid_token"'})


def authenticate(db: Database, header: str | None, client: str | None = None) -> Principal:
    """The request's principal; 401 ``missing_authentication`` or ``invalid_authentication``.

    A token with an IP allowlist works only from the addresses it lists (spec §1.3,
    §16.3); ``client`` is the request's client address.
    """
    if not header:
        raise ScimError(401, "missing_authentication", "No bearer token was sent.",
                        headers={"WWW-Authenticate": 'Bearer realm="scimd"'})
    token = bearer(header)
    found = None
    if token is not None and len(token) <= 512:
        with db.snapshot() as reader:
            found = tenants.tenant_for_token(reader, token)
    if found is None:
        raise _invalid("The bearer token is not valid.")
    scopes = frozenset(found.scopes.split())
    problem = None
    if "admin" not in scopes:
        problem = "The token lacks the admin scope."
    elif not allowed(client, found.allow_ips):
        problem = "The token may not be used from this address."
    if problem:
        exc = _invalid(problem)
        exc.dialect = found.tenant.dialect  # the answer takes the tenant's shape
        raise exc
    return Principal(found.tenant, found.token_id, scopes, found.user_id, found.role)
