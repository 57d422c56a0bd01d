"""Alembic environment: runs migrations on the connection scimd hands it."""

from alembic import context

from scimd.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when alembic is run by hand
    from sqlalchemy import create_engine

    from scimd.settings import Settings

    connection = create_engine(Settings.from_env().sqlalchemy_url).connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
