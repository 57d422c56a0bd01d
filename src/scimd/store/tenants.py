"""SQL for tenants and API tokens.

Tokens are never stored: only their SHA-256 digest, which is also how a request's
token is looked up (one indexed equality, no slow hash on the request path).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from scimd.store import direct
from scimd.store import tables as t
from scimd.store.common import new_id, now
from scimd.store.direct import Reader
from scimd.store.records import Tenant

TOKEN_PREFIX = "xoxp-"


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> str:
    """A new bearer token: ``xoxp-`` and 256 random bits (spec §1.2)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _tenant(row: Any) -> Tenant:
    return Tenant(pk=row.pk, id=row.id, name=row.name, plan=row.plan, dialect=row.dialect,
                  parent_pk=row.parent_pk, domain=row.domain)


def create_tenant(conn: Connection, *, name: str, plan: str, dialect: str,
                  domain: str | None = None, parent_pk: int | None = None,
                  is_default: bool = False) -> Tenant:
    prefix = "E" if plan == "enterprise" and parent_pk is None else "T"
    tenant_id = new_id(prefix)
    pk = conn.execute(insert(t.tenants).values(
        id=tenant_id, name=name, plan=plan, dialect=dialect, domain=domain,
        parent_pk=parent_pk, is_default=is_default, created_at=now(),
    ).returning(t.tenants.c.pk)).scalar_one()
    return Tenant(pk=pk, id=tenant_id, name=name, plan=plan, dialect=dialect,
                  parent_pk=parent_pk, domain=domain)


def default_tenant(conn: Connection) -> Tenant | None:
    row = conn.execute(select(t.tenants).where(t.tenants.c.is_default.is_(True))).first()
    return _tenant(row) if row else None


def get_tenant(conn: Connection, tenant_id: str) -> Tenant | None:
    row = conn.execute(select(t.tenants).where(t.tenants.c.id == tenant_id)).first()
    return _tenant(row) if row else None


def set_dialect(conn: Connection, tenant_pk: int, dialect: str, plan: str | None = None) -> None:
    values: dict[str, Any] = {"dialect": dialect}
    if plan:
        values["plan"] = plan
    conn.execute(update(t.tenants).where(t.tenants.c.pk == tenant_pk).values(**values))


def create_token(conn: Connection, tenant_pk: int, *, token: str | None = None,
                 user_pk: int | None = None, label: str | None = None,
                 scopes: str = "admin", allow_ips: list[str] | None = None) -> str:
    """Store a token (a new random one unless given) and return it in clear, once."""
    token = token or generate_token()
    conn.execute(insert(t.tokens).values(
        id=new_id("K"), tenant_pk=tenant_pk, user_pk=user_pk, digest=digest(token),
        scopes=scopes, label=label, created_at=now(), allow_ips=allow_ips or None))
    return token


def ensure_token(conn: Connection, tenant_pk: int, token: str, label: str) -> None:
    """Make ``token`` a valid admin token of the tenant (idempotent)."""
    row = conn.execute(select(t.tokens.c.pk, t.tokens.c.tenant_pk, t.tokens.c.revoked_at)
                       .where(t.tokens.c.digest == digest(token))).first()
    if row is None:
        create_token(conn, tenant_pk, token=token, label=label)
    elif row.tenant_pk != tenant_pk or row.revoked_at is not None:
        conn.execute(update(t.tokens).where(t.tokens.c.pk == row.pk)
                     .values(tenant_pk=tenant_pk, revoked_at=None, scopes="admin"))


ADMIN_ROLES = ("primary_owner", "owner", "admin")


@dataclass(slots=True, frozen=True)
class TokenInfo:
    """What a live token stands for."""

    tenant: Tenant
    token_id: str
    scopes: str
    user_id: str | None
    role: str
    """The role of the token's user; tokens without a user act as an owner."""
    allow_ips: list[str] | None


def tenant_for_token(reader: Reader, token: str) -> TokenInfo | None:
    """The tenant, token and user a live token stands for, or ``None``.

    A token issued to a user works only while that user is an active admin or
    owner of the tenant (spec §1.2, §16.4). This runs on every request, so it is a
    direct read (:mod:`scimd.store.direct`).
    """
    found = direct.token_row(reader, digest(token))
    if found is None:
        return None
    tenant, (token_id, scopes, allow_ips, user_pk, user_id, role, active) = found
    if user_pk is not None and (role not in ADMIN_ROLES or not active):
        return None
    return TokenInfo(tenant, token_id, scopes, user_id, role or "owner", allow_ips or None)


def set_allowlist(conn: Connection, token_id: str, entries: list[str] | None) -> bool:
    """Replace a token's IP allowlist (``None`` or empty: no restriction)."""
    result = conn.execute(update(t.tokens).where(t.tokens.c.id == token_id)
                          .values(allow_ips=entries or None))
    return result.rowcount == 1


def list_tenants(conn: Connection) -> list[Tenant]:
    return [_tenant(r) for r in conn.execute(select(t.tenants).order_by(t.tenants.c.pk))]


def list_tokens(conn: Connection, tenant_pk: int) -> list[dict]:
    """Tokens of a tenant, without their secret (it is not stored)."""
    rows = conn.execute(
        select(t.tokens.c.id, t.tokens.c.label, t.tokens.c.scopes, t.tokens.c.created_at,
               t.tokens.c.revoked_at, t.tokens.c.allow_ips, t.users.c.id.label("user_id"))
        .select_from(t.tokens.outerjoin(t.users, t.users.c.pk == t.tokens.c.user_pk))
        .where(t.tokens.c.tenant_pk == tenant_pk).order_by(t.tokens.c.pk))
    return [dict(r._mapping) for r in rows]


def revoke_token(conn: Connection, token_id: str) -> bool:
    """Revoke a token by its id; ``False`` if there is no such live token."""
    result = conn.execute(update(t.tokens).where(t.tokens.c.id == token_id,
                                                 t.tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now()))
    return result.rowcount == 1


def delete_tenant(conn: Connection, tenant_pk: int) -> None:
    """Remove a tenant that failed to be set up (its rows go with it)."""
    from sqlalchemy import delete

    conn.execute(delete(t.tenants).where(t.tenants.c.pk == tenant_pk))
