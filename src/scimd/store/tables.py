"""The SQL schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Resources are stored once, protocol-neutral: the attributes a client wrote, in
the SCIM 2.0 stored form, as a JSON document, plus the columns that filters,
uniqueness and sorting need (lower-cased copies for case-insensitive matching).
Group membership is its own relation so that one member change touches one row.
Timestamps are UTC text of fixed width (``values.DATETIME_FORMAT``) so that text
order is time order on both databases.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from scimd.store.stored_form import StoredAttributes

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")
Pk = BigInteger().with_variant(Integer(), "sqlite")
Stamp = String(27)

tenants = Table(
    "tenants", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("plan", String(32), nullable=False, server_default="enterprise"),
    Column("dialect", String(16), nullable=False, server_default="slack"),
    Column("parent_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=True),
    Column("domain", String(255), nullable=True),
    Column("is_default", Boolean, nullable=False, server_default="0"),
    Column("settings", Json, nullable=True),
    Column("created_at", Stamp, nullable=False),
)

users = Table(
    "users", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("tenant_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=False),
    Column("user_name", String(255), nullable=False),
    Column("user_name_lower", String(255), nullable=False),
    Column("external_id", String(255), nullable=True),
    Column("display_name", Text, nullable=True),
    Column("display_name_lower", Text, nullable=True),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("role", String(32), nullable=False, server_default="member"),
    Column("is_bot", Boolean, nullable=False, server_default="0"),
    Column("erased", Boolean, nullable=False, server_default="0"),
    Column("password_hash", String(255), nullable=True),
    Column("attrs", StoredAttributes("groups"), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("modified_at", Stamp, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    UniqueConstraint("tenant_pk", "user_name_lower"),
    UniqueConstraint("tenant_pk", "external_id"),
    Index(None, "tenant_pk", "display_name_lower"),
    Index(None, "tenant_pk", "pk"),
)

user_emails = Table(
    "user_emails", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("tenant_pk", Pk, nullable=False),
    Column("user_pk", Pk, ForeignKey("users.pk", ondelete="CASCADE"), nullable=False),
    Column("value", String(320), nullable=False),
    Column("value_lower", String(320), nullable=False),
    Column("type", String(64), nullable=True),
    Column("primary", Boolean, nullable=False, server_default="0"),
    Column("display", Text, nullable=True),
    # Set only where the dialect makes emails unique in the tenant (Slack, spec §3.2).
    Column("unique_value", String(320), nullable=True),
    Index(None, "tenant_pk", "value_lower"),
    Index(None, "user_pk"),
    UniqueConstraint("tenant_pk", "unique_value"),
)

groups = Table(
    "groups", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("tenant_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("display_name_lower", Text, nullable=False),
    Column("external_id", String(255), nullable=True),
    Column("attrs", StoredAttributes("members"), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("modified_at", Stamp, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    UniqueConstraint("tenant_pk", "external_id"),
    Index(None, "tenant_pk", "display_name_lower"),
    Index(None, "tenant_pk", "pk"),
)

memberships = Table(
    "memberships", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("group_pk", Pk, ForeignKey("groups.pk", ondelete="CASCADE"), nullable=False),
    Column("user_pk", Pk, ForeignKey("users.pk", ondelete="CASCADE"), nullable=True),
    Column("child_pk", Pk, ForeignKey("groups.pk", ondelete="CASCADE"), nullable=True),
    UniqueConstraint("group_pk", "user_pk"),
    UniqueConstraint("group_pk", "child_pk"),
    Index(None, "user_pk"),
    Index(None, "child_pk"),
)

tokens = Table(
    "tokens", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("tenant_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=False),
    Column("user_pk", Pk, ForeignKey("users.pk", ondelete="CASCADE"), nullable=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("scopes", String(255), nullable=False, server_default="admin"),
    Column("allow_ips", Json, nullable=True),
    Column("label", String(255), nullable=True),
    Column("created_at", Stamp, nullable=False),
    Column("revoked_at", Stamp, nullable=True),
)

audit_events = Table(
    "audit_events", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("tenant_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=False),
    Column("at", Stamp, nullable=False),
    Column("actor", String(64), nullable=True),
    Column("action", String(64), nullable=False),
    Column("resource_type", String(16), nullable=False),
    Column("resource_id", String(32), nullable=False),
    Column("data", Json, nullable=True),
    Column("token_id", String(32), nullable=True),
    Column("actor_user_id", String(32), nullable=True),
    Column("client", String(64), nullable=True),
    Index(None, "tenant_pk", "pk"),
    Index(None, "tenant_pk", "resource_id"),
    Index(None, "tenant_pk", "action", "at"),
)

guard_trips = Table(
    "guard_trips", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("tenant_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=False),
    Column("tripped_at", Stamp, nullable=False),
    Column("released_at", Stamp, nullable=True),
    Column("released_by", String(64), nullable=True),
    Index(None, "tenant_pk", "released_at"),
)

workspace_members = Table(
    "workspace_members", metadata,
    Column("workspace_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), primary_key=True),
    Column("user_pk", Pk, ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True),
    Column("manual", Boolean, nullable=False, server_default="0"),
    Index(None, "user_pk"),
)

idp_connections = Table(
    "idp_connections", metadata,
    Column("workspace_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), primary_key=True),
    Column("group_pk", Pk, ForeignKey("groups.pk", ondelete="CASCADE"), primary_key=True),
    Column("required", Boolean, nullable=False, server_default="0"),
    Index(None, "group_pk"),
)

channels = Table(
    "channels", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("tenant_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=False),
    Column("org_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=False),
    Column("name", String(80), nullable=False),
    Column("name_lower", String(80), nullable=False),
    Column("created_at", Stamp, nullable=False),
    UniqueConstraint("org_pk", "name_lower"),
)

channel_members = Table(
    "channel_members", metadata,
    Column("channel_pk", Pk, ForeignKey("channels.pk", ondelete="CASCADE"), primary_key=True),
    Column("user_pk", Pk, ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True),
    Index(None, "user_pk"),
)

webhooks = Table(
    "webhooks", metadata,
    Column("pk", Pk, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("tenant_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("cursor", BigInteger, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Stamp, nullable=True),
    Column("lease_until", Stamp, nullable=True),
    Column("delivered", BigInteger, nullable=False, server_default="0"),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_delivered_at", Stamp, nullable=True),
    Index(None, "tenant_pk"),
)

# Rows of users and groups per tenant, and a random stamp renewed whenever that set
# changes, kept by triggers (migrations 0006 and 0007).
resource_counts = Table(
    "resource_counts", metadata,
    Column("tenant_pk", Pk, ForeignKey("tenants.pk", ondelete="CASCADE"), primary_key=True),
    Column("resource", String(8), primary_key=True),
    Column("total", BigInteger, nullable=False, server_default="0"),
    Column("stamp", BigInteger, nullable=False, server_default="0"),
)
