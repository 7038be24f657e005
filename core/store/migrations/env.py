"""Alembic environment of the run store, configured from code (no alembic.ini).

``core.store.database`` passes an open connection in ``config.attributes["connection"]``;
without one, the URL comes from the ``sqlalchemy.url`` option or the WhyLM configuration.
"""

from alembic import context
from sqlalchemy import Connection

from core.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run_with(connection: Connection) -> None:
    """Run the pending migrations on ``connection`` (batch mode so SQLite can alter tables)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the migration SQL for the configured URL instead of running it."""
    from core.store.config import database_url

    context.configure(
        url=config.get_main_option("sqlalchemy.url") or database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a fresh WhyLM engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    from core.store.config import database_url
    from core.store.database import create_store_engine

    engine = create_store_engine(config.get_main_option("sqlalchemy.url") or database_url())
    try:
        with engine.connect() as conn:
            _run_with(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
