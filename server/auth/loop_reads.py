"""The token check's read of the person and their roles, made on the event loop, not in a worker thread.

A signed-in request crossed to a worker thread twice: for this read (the guard) and for the endpoint.
A crossing costs both threads' work and a wait for the interpreter's lock while the loop serves other
requests (up to its 5 ms switch interval), so under load the guard's crossing cost as much as the
endpoint's. Here the read stays on the loop:

- SQLite: one connection of its own, used by the loop alone, in autocommit (WAL: a read never waits for
  a writer), with no busy wait (a rare busy database falls back rather than hold the loop).
- PostgreSQL: asynchronous psycopg connections of its own in autocommit (sockets the loop watches), up to
  ``SIZE``, opened when first needed; a request that finds them all busy waits for one.

Every read begins after its request arrived, on the committed state (no transaction is kept open), so a
person deactivated or a role removed is refused from the next request on, as before. Any failure (a
connection lost, a busy or missing database) falls back to the worker thread's read through the pool,
whose error says what went wrong, or which recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from sqlalchemy.orm import Session

from server.auth import service
from server.auth.actor import Actor
from server.auth.tokens import AccessClaims
from server.core.database import Database

SIZE = 4
"""PostgreSQL connections kept for these reads, per process."""
APPLICATION_NAME = "labgate actor reads"
"""How these connections are named in PostgreSQL's pg_stat_activity."""


class ActorReads:
    """``Actor`` for checked claims, read on the loop (see the module); one per application."""

    def __init__(self, database: Database) -> None:
        self.database = database
        compiled = service.ACTOR.compile(dialect=database.engine.dialect)
        self._sql = compiled.string
        self._positional = compiled.positiontup  # SQLite's ``?``; PostgreSQL's are named
        self._lock = threading.Lock()
        self._sqlite: Any = None  # the loop's own sqlite3 connection
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the PostgreSQL connections belong to
        self._idle: list[Any] = []  # PostgreSQL: psycopg AsyncConnections not in use
        self._waiters: list[asyncio.Future[Any]] = []
        self._opened = 0
        url = database.engine.url
        self.on_loop = database.dialect == "postgresql" or (url.database not in (None, "", ":memory:"))

    async def actor(self, session: Session, claims: AccessClaims) -> Actor:
        """The person the claims name, if they still exist, are active and hold the claimed role."""
        if self.on_loop:
            try:
                rows = self._read_sqlite(claims.person_id) if self.database.in_process else \
                    await self._read_postgresql(claims.person_id)
            except Exception:  # the pool's read below says what is wrong, or recovers
                self._forget_sqlite()
            else:
                return service.actor_from(rows, claims)
        return await self.database.call(service.actor_of, session, claims)

    # -- SQLite ------------------------------------------------------------------------------------
    def _read_sqlite(self, person_id: str) -> list[Any]:
        with self._lock:
            if self._sqlite is None:
                raw = self.database.engine.raw_connection()
                raw.detach()  # its own: never back in the pool, never reset there
                raw.dbapi_connection.isolation_level = None  # type: ignore[union-attr]  # autocommit
                raw.dbapi_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
                self._sqlite = raw
            cursor = self._sqlite.cursor()
            try:
                cursor.execute(self._sql, self._parameters(person_id))
                return [_Row(*row) for row in cursor.fetchall()]
            finally:
                cursor.close()

    def _forget_sqlite(self) -> None:
        with self._lock:
            raw, self._sqlite = self._sqlite, None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.close()

    def _parameters(self, person_id: str) -> Any:
        if self._positional:
            return tuple(person_id for _ in self._positional)
        return {"person_id": person_id}

    # -- PostgreSQL --------------------------------------------------------------------------------
    async def _read_postgresql(self, person_id: str) -> list[Any]:
        connection = await self._take()
        try:
            cursor = await connection.execute(self._sql, self._parameters(person_id))
            rows = await cursor.fetchall()
        except BaseException:
            self._opened -= 1
            self._wake_one()  # a waiter may open the connection this one was
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        self._give_back(connection)
        return [_Row(*row) for row in rows]

    async def _take(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new loop (a test's client started again): the old sockets are its
            self._drop_all()
            self._loop = loop
        if self._idle:
            return self._idle.pop()
        if self._opened < SIZE:
            return await self._open()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            found = await waiter
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                self._give_back(waiter.result())  # handed over as this request was cancelled
            raise
        return found if found is not None else await self._open()

    async def _open(self) -> Any:
        import psycopg  # the PostgreSQL driver, there whenever the database is PostgreSQL

        self._opened += 1
        try:
            url = self.database.engine.url.set(drivername="postgresql")
            return await psycopg.AsyncConnection.connect(url.render_as_string(hide_password=False), autocommit=True,
                                                         connect_timeout=10, application_name=APPLICATION_NAME)
        except BaseException:
            self._opened -= 1
            self._wake_one()
            raise

    def _give_back(self, connection: Any) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _wake_one(self) -> None:
        """A connection slot came free: the first waiter opens one (``None`` says so)."""
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def _drop_all(self) -> None:
        idle, self._idle, self._opened = self._idle, [], 0
        for waiter in self._waiters:
            waiter.cancel()
        self._waiters = []
        for connection in idle:
            with contextlib.suppress(Exception):
                connection.pgconn.finish()  # its loop is gone: close the socket without it

    async def aclose(self) -> None:
        idle, self._idle, self._opened = self._idle, [], 0
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.close()
        self._forget_sqlite()


class _Row:
    """A driver's row with the names ``service.actor_from`` reads."""

    __slots__ = ("active", "name", "number", "role")

    def __init__(self, number: str, name: str, active: bool, role: str | None) -> None:
        self.number, self.name, self.active, self.role = number, name, active, role
