"""Alembic's entry: runs on the connection ``server.core.migrations`` hands it, or opens one from the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from server.core.database import make_engine
from server.tables import metadata

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as opened:
        run(opened)
    engine.dispose()
