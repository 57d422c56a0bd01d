"""Schema migrations with Alembic, run from code (``scimd migrate`` and on start)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from scimd.store.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(db: Database, target: str = "head") -> None:
    """Bring the database to the newest schema (or to the revision ``target``)."""
    _run(db, command.upgrade, target)


def downgrade(db: Database, target: str) -> None:
    """Take the database back to the revision ``target`` (each migration's downgrade)."""
    _run(db, command.downgrade, target)


def _run(db: Database, step: Callable[[Config, str], None], target: str) -> None:
    cfg = _config()
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn = conn.execution_options(scimd_write=True)
        cfg.attributes["connection"] = conn
        step(cfg, target)
        conn.commit()


def is_current(db: Database) -> bool:
    """Whether the database is at the newest schema."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head
