"""Alembic, driven from code: migrate a database to the newest schema, or check that it is there."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.core.database import Database, DatabaseError

SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


class NotMigrated(DatabaseError):
    """The database's schema is not the one this code needs."""


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_bare()).get_current_head()
    assert revision is not None, "no migrations found in server/migrations/versions"
    return revision


def _bare() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def current(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to ``revision``; returns (before, after)."""
    before = current(database)
    config = alembic_config(database)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current(database)


def check(database: Database) -> str:
    """The current revision, or ``NotMigrated`` saying which command brings the database up to date."""
    try:
        found = current(database)
    except Exception as exc:  # a driver error: unreachable host, wrong password, missing database
        raise DatabaseError(f"cannot open the database {database.describe()}: {exc}") from exc
    wanted = head()
    if found != wanted:
        state = "empty (never migrated)" if found is None else f"at revision {found}"
        raise NotMigrated(
            f"the database {database.describe()} is {state}; this server needs revision {wanted}. "
            f"Run `labgate-server migrate` (with the same LABGATE_DATABASE_URL) and start again."
        )
    return found
