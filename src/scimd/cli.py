"""The ``scimd`` command line (docs/cli.md).

Every command works on the database named by ``SCIMD_DATABASE_URL``, like the
server, and prints JSON with ``--json`` for scripts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from scimd.settings import DIALECTS, PLANS, Settings

app = typer.Typer(help="scimd: a SCIM provisioning server that behaves like Slack's SCIM API.",
                  no_args_is_help=True, add_completion=False)
tenant_app = typer.Typer(help="Tenants: workspaces and Enterprise Grid organizations.",
                         no_args_is_help=True)
token_app = typer.Typer(help="Admin tokens.", no_args_is_help=True)
user_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
workspace_app = typer.Typer(help="Enterprise Grid workspaces.", no_args_is_help=True)
idp_app = typer.Typer(help="IdP groups connected to Grid workspaces.", no_args_is_help=True)
channel_app = typer.Typer(help="Channels (their names share a namespace with usernames).",
                          no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(idp_app, name="idp-group")
app.add_typer(channel_app, name="channel")
guard_app = typer.Typer(help="The mass-deprovision guard.", no_args_is_help=True)
app.add_typer(guard_app, name="guard")
webhook_app = typer.Typer(help="Webhooks: the audit log delivered as signed JSON.",
                          no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")
console = Console(stderr=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def emit(data: Any, as_json: bool, human: str | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    elif human is not None:
        print(human)


@contextmanager
def database(migrate_sqlite: bool = True) -> Iterator[Any]:
    from scimd.store import migrate
    from scimd.store.db import connect

    settings = Settings.from_env()
    db = connect(settings.database_url)
    try:
        if db.is_sqlite and migrate_sqlite:
            migrate.upgrade(db)
        elif not migrate.is_current(db):
            fail("the database schema is not up to date: run `scimd migrate` first.")
        yield db
    finally:
        db.dispose()


def _audit(conn: Any, tenant_pk: int, action: str, kind: str, resource_id: str,
           data: dict | None = None) -> None:
    """Every CLI change goes to the audit log, in the change's own transaction."""
    from scimd.store import audit
    from scimd.store.records import CLI

    audit.record(conn, tenant_pk, action, kind, resource_id, data, CLI)


def _token_tenant(conn: Any, token_id: str) -> int | None:
    from sqlalchemy import select

    from scimd.store import tables as t

    return conn.execute(select(t.tokens.c.tenant_pk).where(t.tokens.c.id == token_id)).scalar()


def _tenant(db: Any, tenant_id: str | None):
    from scimd.store import tenants

    with db.read() as conn:
        tenant = tenants.get_tenant(conn, tenant_id) if tenant_id else \
            tenants.default_tenant(conn)
    if tenant is None:
        fail(f"no tenant {tenant_id}" if tenant_id else "no default tenant: pass --tenant")
    return tenant


# -- server --------------------------------------------------------------------------


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    ssl_certfile: str = typer.Option(None, envvar="SCIMD_SSL_CERTFILE",
                                     help="Serve HTTPS with this PEM certificate (chain)."),
    ssl_keyfile: str = typer.Option(None, envvar="SCIMD_SSL_KEYFILE",
                                    help="The PEM private key of --ssl-certfile."),
) -> None:
    """Start the server (migrating a SQLite database first)."""
    import signal

    import uvicorn

    from scimd.ops.multiprocess import reset_metrics_dir

    reset_metrics_dir()  # before any metric exists in this process (PROMETHEUS_MULTIPROC_DIR)
    from scimd.app import prepare
    from scimd.observability import log_config

    settings = Settings.from_env()
    if workers > 1 and settings.rate_limits and not settings.redis_url:
        fail("--workers above 1 needs SCIMD_REDIS_URL (each process would count the rate "
             "limits on its own, multiplying them) or SCIMD_RATE_LIMITS=off.")
    if (ssl_certfile is None) != (ssl_keyfile is None):
        fail("--ssl-certfile and --ssl-keyfile go together.")
    for path in (ssl_certfile, ssl_keyfile):
        if path is not None and not os.path.isfile(path):
            fail(f"no such file: {path}")

    def stopped(_signum: int, _frame: object) -> None:
        # uvicorn finishes in-flight requests, then raises the signal again: exit 0 then
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stopped)
    db, token = prepare(settings)
    db.dispose()
    if token:
        console.print("[bold green]Created the default tenant.[/] Its admin token "
                      "(shown once, keep it safe):")
        print(token, flush=True)
    scheme = "https" if ssl_certfile else "http"
    console.print(f"scimd listening on {scheme}://{host}:{port} "
                  "(SCIM 2.0 at /scim/v2, SCIM 1.1 at /scim/v1)")
    uvicorn.run("scimd.app:factory", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level, log_config=log_config(settings), access_log=False,
                proxy_headers=False, server_header=False,
                timeout_graceful_shutdown=settings.shutdown_grace,
                ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (needed for PostgreSQL before serving)."""
    from scimd.store import migrate
    from scimd.store.db import connect

    settings = Settings.from_env()
    db = connect(settings.database_url)
    migrate.upgrade(db)
    db.dispose()
    console.print("Database schema is up to date.")


# -- tenants ---------------------------------------------------------------------------


@tenant_app.command("create")
def tenant_create(
    name: str = typer.Option(..., help="The workspace or organization name."),
    plan: str = typer.Option("enterprise", help=f"One of {', '.join(PLANS)}."),
    dialect: str = typer.Option("slack", help=f"One of {', '.join(DIALECTS)}."),
    domain: str = typer.Option(None, help="Domain used in profileUrl (default from the name)."),
    owner_user_name: str = typer.Option("primary.owner", help="userName of the primary owner."),
    owner_email: str = typer.Option(None, help="Email of the primary owner."),
    as_json: bool = JSON,
) -> None:
    """Create a tenant and its primary owner, and print an admin token of the owner once."""
    from scimd.directory.users import Users
    from scimd.scim.errors import ScimError
    from scimd.store import tenants

    if plan not in PLANS:
        fail(f"--plan must be one of {', '.join(PLANS)}")
    if dialect not in DIALECTS:
        fail(f"--dialect must be one of {', '.join(DIALECTS)}")
    with database() as db:
        with db.write() as conn:
            tenant = tenants.create_tenant(conn, name=name, plan=plan, dialect=dialect,
                                           domain=domain)
        email = owner_email or f"{owner_user_name}@{(domain or 'example.com')}"
        try:
            owner = Users(db).create(tenant, {
                "userName": owner_user_name,
                "emails": [{"value": email, "primary": True}]}, role="primary_owner")
        except ScimError as exc:
            with db.write() as conn:
                tenants.delete_tenant(conn, tenant.pk)
            fail(f"could not create the primary owner: {exc.code}: {exc.detail}")
        with db.write() as conn:
            token = tenants.create_token(conn, tenant.pk, user_pk=owner.pk, label="owner")
            _audit(conn, tenant.pk, "tenant_created", "Tenant", tenant.id,
                   {"plan": plan, "dialect": dialect, "primary_owner": owner.id})
    emit({"tenant_id": tenant.id, "owner_user_id": owner.id, "token": token}, as_json,
         f"tenant {tenant.id} ({plan}, {dialect}); primary owner {owner.id}\n"
         f"admin token (shown once): {token}")


@tenant_app.command("list")
def tenant_list(as_json: bool = JSON) -> None:
    """List tenants."""
    from scimd.store import tenants

    with database() as db, db.read() as conn:
        rows = tenants.list_tenants(conn)
    data = [{"tenant_id": r.id, "name": r.name, "plan": r.plan, "dialect": r.dialect}
            for r in rows]
    if as_json:
        emit(data, True)
        return
    table = Table("tenant", "name", "plan", "dialect")
    for d in data:
        table.add_row(d["tenant_id"], d["name"], d["plan"], d["dialect"])
    Console().print(table)


@tenant_app.command("show")
def tenant_show(tenant_id: str = typer.Argument(..., help="Tenant id."),
                as_json: bool = JSON) -> None:
    """Show a tenant and its tokens."""
    from scimd.store import tenants

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.read() as conn:
            tokens = tenants.list_tokens(conn, tenant.pk)
    data = {"tenant_id": tenant.id, "name": tenant.name, "plan": tenant.plan,
            "dialect": tenant.dialect, "domain": tenant.domain, "tokens": tokens}
    emit(data, as_json, json.dumps(data, indent=2))


# -- tokens ---------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    tenant_id: str = typer.Option(None, "--tenant", help="Tenant id (default: the default)."),
    user_id: str = typer.Option(..., "--user", help="The admin or owner the token acts as."),
    label: str = typer.Option(None, help="A note to recognise the token by."),
    allow_ip: list[str] = typer.Option(None, "--allow-ip",
                                       help="Allowed IPv4 address or CIDR (repeat, up to 10)."),
    as_json: bool = JSON,
) -> None:
    """Create an admin token for an admin or owner and print it once."""
    from scimd.store import tenants
    from scimd.store import users as user_store

    allowlist = _allowlist(allow_ip or [])
    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.write() as conn:
            user = user_store.get(conn, tenant.pk, user_id)
            if user is None:
                fail(f"no user {user_id} in tenant {tenant.id}")
            if user.role not in tenants.ADMIN_ROLES:
                fail(f"{user_id} is a {user.role}: tokens are for admins and owners")
            token = tenants.create_token(conn, tenant.pk, user_pk=user.pk, label=label,
                                         allow_ips=allowlist)
            _audit(conn, tenant.pk, "token_created", "User", user_id,
                   {"label": label, "allow_ips": allowlist})
    emit({"tenant_id": tenant.id, "user_id": user_id, "token": token,
          "allow_ips": allowlist}, as_json, token)


def _allowlist(entries: list[str]) -> list[str]:
    from scimd.auth.addresses import AllowlistError, normalize_allowlist

    try:
        return normalize_allowlist(entries, allow_private=Settings.from_env().allow_private_ips)
    except AllowlistError as exc:
        fail(f"--allow-ip: {exc}")
        raise


@token_app.command("allow-ip")
def token_allow_ip(
    token_id: str = typer.Argument(..., help="The token's id (from token list)."),
    allow_ip: list[str] = typer.Option(None, "--allow-ip",
                                       help="Allowed IPv4 address or CIDR (repeat, up to 10)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the restriction."),
    as_json: bool = JSON,
) -> None:
    """Set (or with --clear, remove) a token's IP allowlist (spec §1.3)."""
    from scimd.store import tenants

    if not clear and not allow_ip:
        fail("give --allow-ip entries, or --clear")
    allowlist = [] if clear else _allowlist(allow_ip or [])
    with database() as db, db.write() as conn:
        tenant_pk = _token_tenant(conn, token_id)
        if tenant_pk is None or not tenants.set_allowlist(conn, token_id, allowlist):
            fail(f"no token {token_id}")
        _audit(conn, tenant_pk, "token_allowlist_changed", "Token", token_id,
               {"allow_ips": allowlist})
    emit({"token_id": token_id, "allow_ips": allowlist}, as_json,
         f"{token_id}: " + (", ".join(allowlist) if allowlist else "no IP restriction"))


@token_app.command("list")
def token_list(tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
               as_json: bool = JSON) -> None:
    """List a tenant's tokens (their secrets are not stored and cannot be shown)."""
    from scimd.store import tenants

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.read() as conn:
            rows = tenants.list_tokens(conn, tenant.pk)
    emit(rows, as_json, "\n".join(
        f"{r['id']}  user={r['user_id']}  created={r['created_at']}"
        f"{'  REVOKED' if r['revoked_at'] else ''}  {r['label'] or ''}" for r in rows))


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., help="The token's id (from token list)."),
                 as_json: bool = JSON) -> None:
    """Revoke a token: it stops working at once."""
    from scimd.store import tenants

    with database() as db, db.write() as conn:
        tenant_pk = _token_tenant(conn, token_id)
        done = tenants.revoke_token(conn, token_id)
        if done and tenant_pk is not None:
            _audit(conn, tenant_pk, "token_revoked", "Token", token_id)
    if not done:
        fail(f"no live token {token_id}")
    emit({"revoked": token_id}, as_json, f"revoked {token_id}")


# -- users ----------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
    user_name: str = typer.Option(..., help="The username."),
    email: str = typer.Option(..., help="The primary email."),
    role: str = typer.Option("member", help="primary_owner, owner, admin or member."),
    bot: bool = typer.Option(False, "--bot", help="Create a bot user."),
    as_json: bool = JSON,
) -> None:
    """Create a person (or a bot) with a role, as a Slack admin would."""
    from scimd.directory.users import Users
    from scimd.scim.errors import ScimError
    from scimd.store import users as user_store

    if role not in user_store.ROLES:
        fail(f"--role must be one of {', '.join(user_store.ROLES)}")
    with database() as db:
        tenant = _tenant(db, tenant_id)
        try:
            rec = Users(db).create(tenant, {"userName": user_name, "emails": [
                {"value": email, "primary": True}]}, role=role, is_bot=bot)
        except ScimError as exc:
            fail(f"{exc.code}: {exc.detail}")
    emit({"user_id": rec.id, "role": role, "bot": bot}, as_json, rec.id)


@user_app.command("set-role")
def user_set_role(
    user_id: str = typer.Argument(..., help="User id."),
    role: str = typer.Argument(..., help="primary_owner, owner, admin, member, "
                               "multi_channel_guest or single_channel_guest."),
    tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
    as_json: bool = JSON,
) -> None:
    """Change a user's role (one primary owner per tenant: the previous one becomes owner)."""
    from scimd.store import users as user_store

    if role not in user_store.ROLES:
        fail(f"role must be one of {', '.join(user_store.ROLES)}")
    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.write() as conn:
            if not user_store.set_role(conn, tenant.pk, user_id, role):
                fail(f"no user {user_id} in tenant {tenant.id}")
            _audit(conn, tenant.pk, "user_role_changed", "User", user_id, {"role": role})
    emit({"user_id": user_id, "role": role}, as_json, f"{user_id} is now {role}")


@user_app.command("erase")
def user_erase(user_id: str = typer.Argument(..., help="User id."),
               tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
               as_json: bool = JSON) -> None:
    """Anonymise a user under GDPR: its data is wiped and SCIM can no longer change it."""
    from scimd.store import users as user_store

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.write() as conn:
            if not user_store.erase(conn, tenant.pk, user_id):
                fail(f"no user {user_id} in tenant {tenant.id}")
            _audit(conn, tenant.pk, "user_erased", "User", user_id)
    emit({"user_id": user_id, "erased": True}, as_json, f"{user_id} erased")


@user_app.command("change-email")
def user_change_email(user_id: str = typer.Argument(..., help="User id."),
                      email: str = typer.Argument(..., help="The new primary email."),
                      tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
                      as_json: bool = JSON) -> None:
    """Change a user's primary email, e.g. to free an address a deactivated user holds."""
    from scimd.scim.errors import ScimError
    from scimd.store import users as user_store

    with database() as db:
        tenant = _tenant(db, tenant_id)
        try:
            with db.write() as conn:
                if not user_store.change_email(conn, tenant.pk, user_id, email):
                    fail(f"no user {user_id} in tenant {tenant.id}")
                _audit(conn, tenant.pk, "user_email_changed", "User", user_id, {"email": email})
        except ScimError as exc:
            fail(f"{exc.code}: {exc.detail}")
    emit({"user_id": user_id, "email": email}, as_json, f"{user_id} now has {email}")


@user_app.command("show")
def user_show(user_id: str = typer.Argument(..., help="User id."),
              tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
              as_json: bool = JSON) -> None:
    """Show a user: attributes, role, flags, groups and Grid workspaces."""
    from scimd.store import grid
    from scimd.store import users as user_store

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.read() as conn:
            rec = user_store.get(conn, tenant.pk, user_id)
            if rec is None:
                fail(f"no user {user_id} in tenant {tenant.id}")
            user_store.load_groups(conn, [rec])
            workspaces = grid.workspaces_of(conn, rec.pk)
    data = {"user_id": rec.id, "role": rec.role, "bot": rec.is_bot, "erased": rec.erased,
            "active": rec.active, "attributes": rec.attrs,
            "groups": [g["value"] for g in rec.groups or []], "workspaces": workspaces}
    emit(data, as_json, json.dumps(data, indent=2))


# -- Enterprise Grid (spec §11) ---------------------------------------------------------


def _org_and_workspace(db: Any, workspace_id: str):
    tenant = _tenant(db, workspace_id)
    if tenant.parent_pk is None:
        fail(f"{workspace_id} is not a workspace of an organization")
    return tenant


@workspace_app.command("create")
def workspace_create(org: str = typer.Option(..., "--org", help="The organization's id."),
                     name: str = typer.Option(..., help="The workspace name."),
                     domain: str = typer.Option(None, help="The workspace domain."),
                     as_json: bool = JSON) -> None:
    """Create a workspace under an Enterprise Grid organization."""
    from scimd.store import tenants

    with database() as db:
        parent = _tenant(db, org)
        if parent.plan != "enterprise" or parent.parent_pk is not None:
            fail(f"{org} is not an Enterprise Grid organization")
        with db.write() as conn:
            ws = tenants.create_tenant(conn, name=name, plan="enterprise",
                                       dialect=parent.dialect, domain=domain,
                                       parent_pk=parent.pk)
    emit({"workspace_id": ws.id, "org_id": parent.id}, as_json, ws.id)


@workspace_app.command("assign")
def workspace_assign(workspace_id: str = typer.Argument(..., help="Workspace id."),
                     user_id: str = typer.Argument(..., help="User id (of the organization)."),
                     as_json: bool = JSON) -> None:
    """Add an organization user to a workspace by hand (as admin.users.assign does)."""
    from scimd.store import grid, tenants
    from scimd.store import users as user_store

    with database() as db:
        ws = _org_and_workspace(db, workspace_id)
        with db.write() as conn:
            org = next(x for x in tenants.list_tenants(conn) if x.pk == ws.parent_pk)
            user = user_store.get(conn, org.pk, user_id)
            if user is None:
                fail(f"no user {user_id} in organization {org.id}")
            grid.assign(conn, ws.pk, user.pk)
            _audit(conn, org.pk, "workspace_assigned", "User", user_id, {"workspace": ws.id})
    emit({"workspace_id": workspace_id, "user_id": user_id}, as_json,
         f"{user_id} is in {workspace_id}")


@workspace_app.command("members")
def workspace_members(workspace_id: str = typer.Argument(..., help="Workspace id."),
                      as_json: bool = JSON) -> None:
    """List a workspace's members."""
    from scimd.store import grid

    with database() as db:
        ws = _org_and_workspace(db, workspace_id)
        with db.read() as conn:
            ids = grid.workspace_user_ids(conn, ws.pk)
    emit(ids, as_json, "\n".join(ids))


def _connection_parts(db: Any, workspace_id: str, group_id: str):
    from scimd.store import groups as group_store

    ws = _org_and_workspace(db, workspace_id)
    with db.read() as conn:
        group = group_store.get(conn, ws.parent_pk, group_id)
    if group is None:
        fail(f"no group {group_id} in the workspace's organization")
    return ws, group


@idp_app.command("connect")
def idp_connect(workspace: str = typer.Option(..., "--workspace", help="Workspace id."),
                group: str = typer.Option(..., "--group", help="IdP group id (S…)."),
                required: bool = typer.Option(False, "--required",
                                              help="Auto-provision: leaving the group "
                                              "leaves the workspace."),
                as_json: bool = JSON) -> None:
    """Connect an IdP group to a workspace: its members join it, now and as they join."""
    from scimd.store import grid

    with database() as db:
        ws, grp = _connection_parts(db, workspace, group)
        with db.write() as conn:
            grid.connect(conn, ws.pk, grp.pk, required)
            _audit(conn, ws.parent_pk, "idp_group_connected", "Group", group,
                   {"workspace": workspace, "required": required})
    emit({"workspace_id": workspace, "group_id": group, "required": required}, as_json,
         f"{group} connected to {workspace}" + (" (required)" if required else ""))


@idp_app.command("disconnect")
def idp_disconnect(workspace: str = typer.Option(..., "--workspace", help="Workspace id."),
                   group: str = typer.Option(..., "--group", help="IdP group id (S…)."),
                   as_json: bool = JSON) -> None:
    """Disconnect a group; for a required one, the members only it brought leave."""
    from scimd.store import grid

    with database() as db:
        ws, grp = _connection_parts(db, workspace, group)
        with db.write() as conn:
            if not grid.disconnect(conn, ws.pk, grp.pk):
                fail(f"{group} is not connected to {workspace}")
            _audit(conn, ws.parent_pk, "idp_group_disconnected", "Group", group,
                   {"workspace": workspace})
    emit({"workspace_id": workspace, "group_id": group, "connected": False}, as_json,
         f"{group} disconnected from {workspace}")


@channel_app.command("create")
def channel_create(name: str = typer.Option(..., help="Channel name, without #."),
                   tenant_id: str = typer.Option(None, "--tenant",
                                                 help="Workspace or organization id."),
                   as_json: bool = JSON) -> None:
    """Create a channel; its name may not be a username (spec §13.9)."""
    from scimd.store import grid

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.write() as conn:
            try:
                channel_id = grid.create_channel(conn, tenant.pk, tenant.parent_pk or tenant.pk,
                                                 name)
            except grid.NameTaken as exc:
                fail(f"name taken: {exc}")
            _audit(conn, tenant.parent_pk or tenant.pk, "channel_created", "Channel",
                   channel_id, {"name": name})
    emit({"channel_id": channel_id, "name": name}, as_json, channel_id)


@channel_app.command("join")
def channel_join(channel_id: str = typer.Argument(..., help="Channel id (C…)."),
                 user_id: str = typer.Argument(..., help="User id."),
                 tenant_id: str = typer.Option(None, "--tenant", help="Tenant of the user."),
                 as_json: bool = JSON) -> None:
    """Add a user (for example a multi-channel guest) to a channel."""
    from scimd.store import grid
    from scimd.store import users as user_store

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.write() as conn:
            user = user_store.get(conn, tenant.pk, user_id)
            if user is None:
                fail(f"no user {user_id} in tenant {tenant.id}")
            if not grid.join_channel(conn, channel_id, user.pk):
                fail(f"no channel {channel_id}")
            _audit(conn, tenant.pk, "channel_joined", "User", user_id, {"channel": channel_id})
    emit({"channel_id": channel_id, "user_id": user_id}, as_json,
         f"{user_id} joined {channel_id}")


# -- safety: audit, guard, restore ------------------------------------------------------


def _since(text: str | None) -> str | None:
    """An ISO 8601 moment (or ``10m``, ``2h``, ``1d`` ago) in the stored form."""
    from datetime import UTC, datetime, timedelta

    from scimd.scim.values import DATETIME_FORMAT, format_datetime, parse_datetime

    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1] in units:
        moment = datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * units[text[-1]])
        return moment.strftime(DATETIME_FORMAT)
    try:
        return format_datetime(parse_datetime(text))
    except ValueError:
        fail(f"--since takes an ISO 8601 time or an age such as 30m, not {text!r}")
        raise


@app.command("audit")
def audit_command(
    tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
    user_id: str = typer.Option(None, "--user", help="Only events of this user or group."),
    since: str = typer.Option(None, help="From this time (ISO 8601) or age (30m, 2h, 1d)."),
    follow: bool = typer.Option(False, "--follow", help="Keep printing new events."),
    as_json: bool = JSON,
) -> None:
    """Print the audit log: every change made through SCIM or the CLI."""
    import time

    from scimd.store import audit

    with database() as db:
        tenant = _tenant(db, tenant_id)
        after, start = 0, _since(since)
        while True:
            with db.read() as conn:
                rows = audit.events(conn, tenant.pk, after=after, resource_id=user_id,
                                    since=start, limit=1000)
            for row in rows:
                if as_json:
                    print(json.dumps(row, sort_keys=True), flush=True)
                else:
                    who = row["actor"]["user_id"] or row["actor"]["kind"]
                    print(f"{row['time']}  {row['action']:<28} {row['resource']['id']:<12} "
                          f"by {who}", flush=True)
                after = int(row["id"])
            if not follow:
                if len(rows) < 1000:
                    break
                continue
            if not rows:
                time.sleep(1)


@guard_app.command("release")
def guard_release(tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
                  as_json: bool = JSON) -> None:
    """Release a tripped mass-deprovision guard: deactivations are accepted again."""
    from scimd.directory import guard
    from scimd.store import audit

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.write() as conn:
            released = guard.release(conn, tenant.pk)
            if released:
                from scimd.store.records import CLI

                audit.record(conn, tenant.pk, "deprovision_guard_released", "Tenant",
                             tenant.id, None, CLI)
    emit({"tenant_id": tenant.id, "released": released}, as_json,
         "guard released" if released else "the guard was not tripped")


@guard_app.command("status")
def guard_status(tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
                 as_json: bool = JSON) -> None:
    """Whether the tenant's guard is tripped."""
    from scimd.directory import guard

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.read() as conn:
            tripped = guard.tripped(conn, tenant.pk)
    emit({"tenant_id": tenant.id, "tripped": tripped}, as_json,
         "tripped" if tripped else "not tripped")


@user_app.command("restore")
def user_restore(
    since: str = typer.Option(..., help="Deactivations from this time (ISO 8601) or age."),
    tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = JSON,
) -> None:
    """Reactivate users deactivated since a moment and put back their groups and
    workspaces, from the audit log. Prints the plan and asks first."""
    from scimd.directory import restore

    with database() as db:
        tenant = _tenant(db, tenant_id)
        todo = restore.plan(db, tenant, _since(since) or "")
        for entry in todo:
            what = "cannot be restored" if entry.deleted else (
                f"reactivate; groups: {', '.join(entry.groups) or '-'}; "
                f"workspaces: {', '.join(entry.workspaces) or '-'}")
            console.print(f"{entry.user_id}: {what}" + (f" ({entry.note})" if entry.note
                                                        else ""))
        if not any(not e.deleted for e in todo):
            emit({"restored": []}, as_json, "nothing to restore")
            return
        if not yes and not typer.confirm("Restore these users?"):
            fail("nothing restored")
        done = restore.apply(db, tenant, todo)
    emit({"restored": done}, as_json, f"restored {len(done)} user(s)")


@webhook_app.command("add")
def webhook_add(url: str = typer.Option(..., help="Where events are POSTed."),
                tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
                as_json: bool = JSON) -> None:
    """Deliver the tenant's events to URL from now on; prints the signing secret once."""
    from scimd import webhooks

    with database() as db:
        tenant = _tenant(db, tenant_id)
        try:
            with db.write() as conn:
                _audit(conn, tenant.pk, "webhook_added", "Tenant", tenant.id, {"url": url})
                hook_id, secret = webhooks.add(conn, tenant.pk, url)  # events after this one
        except ValueError as exc:
            fail(str(exc))
    emit({"webhook_id": hook_id, "secret": secret}, as_json,
         f"webhook {hook_id}; signing secret (shown once): {secret}")


@webhook_app.command("status")
def webhook_status(tenant_id: str = typer.Option(None, "--tenant", help="Tenant id."),
                   as_json: bool = JSON) -> None:
    """Delivery state of the tenant's webhooks."""
    from scimd import webhooks

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with db.read() as conn:
            rows = webhooks.status(conn, tenant.pk)
    emit(rows, as_json, "\n".join(
        f"{r['id']}  {r['url']}  delivered={r['delivered']} pending={r['pending']} "
        f"attempts={r['attempts']} last={r['last_status']} {r['last_error'] or ''}"
        for r in rows) or "no webhooks")


@webhook_app.command("remove")
def webhook_remove(webhook_id: str = typer.Argument(..., help="Webhook id."),
                   as_json: bool = JSON) -> None:
    """Stop delivering to a webhook."""
    from scimd import webhooks

    with database() as db, db.write() as conn:
        if not webhooks.remove(conn, webhook_id):
            fail(f"no webhook {webhook_id}")
    emit({"removed": webhook_id}, as_json, f"removed {webhook_id}")


@app.command("export")
def export_command(tenant_id: str = typer.Option(None, "--tenant", help="Tenant id.")) -> None:
    """Write a tenant (users, groups, memberships, roles) as JSON to standard output."""
    from scimd import transfer

    with database() as db:
        tenant = _tenant(db, tenant_id)
        with console.status(f"exporting {tenant.id}"):
            dump = transfer.export(db, tenant)
    sys.stdout.write(json.dumps(dump))
    console.print(f"exported {len(dump['users'])} users and {len(dump['groups'])} groups")


@app.command("import")
def import_command(path: str = typer.Argument(..., help="A file written by scimd export."),
                   as_json: bool = JSON) -> None:
    """Recreate an exported tenant in this database, with the same ids."""
    from rich.progress import Progress

    from scimd import transfer

    try:
        with open(path, encoding="utf-8") as handle:
            dump = json.load(handle)
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path}: {exc}")
    with database() as db, Progress(console=console, transient=True) as bar:
        task = bar.add_task("importing", total=transfer.size(dump))
        try:
            tenant = transfer.import_dump(db, dump, lambda n: bar.advance(task, n))
        except (ValueError, KeyError) as exc:
            fail(f"import refused: {exc}")
    emit({"tenant_id": tenant.id, "users": len(dump["users"]),
          "groups": len(dump["groups"])}, as_json,
         f"imported tenant {tenant.id}: {len(dump['users'])} users, "
         f"{len(dump['groups'])} groups")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except ValueError as exc:  # configuration errors from Settings
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
