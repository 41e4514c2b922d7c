"""The database: one declarative base for every domain's tables, engines for SQLite and PostgreSQL,
and sessions. SQLite runs in WAL mode with foreign keys on; PostgreSQL goes through psycopg 3."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import anyio.to_thread
from sqlalchemy import JSON, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from server.core.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class DatabaseError(RuntimeError):
    """The database cannot be reached or is not in the state the server needs; the message says what to do."""


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` go through psycopg 3; SQLite stays as it is."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        pool: dict[str, int] = {}  # an in-memory database (the OpenAPI document's) keeps SQLAlchemy's own pool
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).resolve().parent
            if not folder.is_dir():
                raise DatabaseError(f"the folder of the SQLite database {parsed.database} does not exist: "
                                    f"create {folder}")
            # as many kept as there are worker threads to use them (anyio's 40): with 8 kept, 32 clients at once
            # had the overflow opened (with its pragmas) and closed on almost every request, a fifth of the
            # server's time on a signed-in GET (bench/server.py, one process: 574 -> 770 req/s)
            pool = {"pool_size": 40, "max_overflow": 8}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=30)
    event.listen(engine, "checkin", _note_return)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


PING_AFTER = 1.0
"""Seconds a pooled PostgreSQL connection may rest before it is pinged again on checkout."""


def _note_return(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned"] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A connection that rested longer than ``PING_AFTER`` is pinged before it is used; a dead one is
    replaced (the pool retries the checkout with a new connection). SQLAlchemy's ``pool_pre_ping``
    pings on every checkout: a round trip to PostgreSQL per request (a sixth of a signed-in GET's),
    for connections that under load came back microseconds ago. A server restarted under load is
    still caught: the first statement on a dead connection fails, and SQLAlchemy then drops every
    connection the pool held before it."""
    returned = record.info.get("returned")
    if returned is None or time.monotonic() - returned <= PING_AFTER:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as exc:
        raise DisconnectionError(f"a pooled connection did not answer its ping: {exc}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """An engine and its session factory; one per process (or per test)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def in_process(self) -> bool:
        """SQLite: a query is a call into this process, never a wait on the network."""
        return self.engine.dialect.name == "sqlite"

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)``, a short read, from async code, in a worker thread on both databases.
        Not in the event loop, even on SQLite where the query itself is a call into this process: taking
        a connection can wait for the pool, and the connections come back only when the event loop closes
        their sessions, so with more clients than connections (50 booking at once) the loop waited on
        itself until the pool's timeout, again and again."""
        return await anyio.to_thread.run_sync(function, *args)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)
