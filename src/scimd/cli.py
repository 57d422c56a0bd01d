"""The ``scimd`` command line (docs/cli.md)."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from scimd.settings import Settings

app = typer.Typer(help="scimd: a SCIM provisioning server that behaves like Slack's SCIM API.",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Start the server (migrating a SQLite database first)."""
    import uvicorn

    from scimd.app import prepare

    settings = Settings.from_env()
    db, token = prepare(settings)
    db.dispose()
    if token:
        console.print("[bold green]Created the default tenant.[/] Its admin token "
                      "(shown once, keep it safe):")
        print(token, flush=True)
    console.print(f"scimd listening on http://{host}:{port} (SCIM 2.0 at /scim/v2)")
    uvicorn.run("scimd.app:factory", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level, access_log=False,
                proxy_headers=False, server_header=False)


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


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


if __name__ == "__main__":
    main()
