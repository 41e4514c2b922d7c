"""Is the server up, its database reachable, and the database's schema the one this code was written
for? (for load balancers, systemd and people). The server refuses to start on a database that is not
at the code's head revision; a database migrated or rolled back under a running server is caught here.

Every answer comes from a read of the revision begun after its request arrived (one small query on
a connection kept for it; ``Revisions``). The healthy answer is serialised once and given ahead of the
router (``FrontDoor``); any other answer comes from the route, as a problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from server.core import migrations
from server.core.bodyguard import App, Receive, Scope, Send
from server.core.database import Database
from server.core.errors import Unavailable
from server.core.problems import documented

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(description="sqlite or postgresql", examples=["postgresql"])
    revision: str = Field(description="the database's Alembic revision, the same as head")
    head: str = Field(description="the Alembic revision this code needs")
    version: str
    channels: dict[str, str] = Field(default_factory=dict, description="each notification channel: on, or off and "
                                     "the setting that turns it on", examples=[{"email": "on"}])


REVISION = "SELECT version_num FROM alembic_version"


class Revisions:
    """The database's revision for /health. Read on a connection of its own, taken out of the pool
    once (no checkout, reset or rollback per probe) and in autocommit (no transaction, so never a
    stale snapshot); Alembic's own reading only when that fails, for its precise message.

    Every answer comes from a read that began after its request arrived. On PostgreSQL one read is under
    way at a time: the requests that arrive while it is share the one that starts when it ends, so a
    crowd of probes costs one read per round trip, not one each. There the read runs on the event loop
    itself, on an asynchronous psycopg connection of its own (a socket the loop watches): a read in a
    worker thread waited for the interpreter's lock while the loop answered requests, up to its 5 ms
    switch interval per read, so under load a probe took 5 to 60 ms and a process answered half the
    probes a hello does. Any failure there falls back to the worker thread's read, for its message."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.reading: asyncio.Future[str | None] | None = None  # the read under way
        self.waiting: asyncio.Future[str | None] | None = None  # the next read's answer, for later arrivals
        self._lock = threading.Lock()
        self._raw: Any = None  # the pool's connection wrapper, detached from the pool
        self._on_loop: Any = None  # PostgreSQL: a psycopg AsyncConnection in autocommit, on the serving loop

    async def current(self) -> str | None:
        if self.database.in_process:  # one call into this process: nothing to wait for, nothing to share
            return self.read()
        if self.reading is None:
            return await asyncio.shield(self._start())
        if self.waiting is None:  # the read under way began before this request: wait for the next
            self.waiting = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self.waiting)

    def _start(self) -> asyncio.Future[str | None]:
        reading = self.reading = asyncio.ensure_future(self._fetch())
        reading.add_done_callback(self._done)
        return reading

    def _done(self, reading: asyncio.Future[str | None]) -> None:
        self.reading = None
        if not reading.cancelled():
            reading.exception()  # retrieved here too, so a failure no one awaited is not logged as lost
        waiting, self.waiting = self.waiting, None
        if waiting is not None:
            self._start().add_done_callback(lambda done: _settle(waiting, done))

    async def _fetch(self) -> str | None:
        if self.database.dialect == "postgresql":
            try:
                return await self._read_on_loop()
            except Exception:  # a lost connection, a database down: the thread's read says which, or recovers
                await self._close_on_loop()
        return await self.database.call(self.read)

    async def _read_on_loop(self) -> str | None:
        import psycopg  # the PostgreSQL driver, there whenever the database is PostgreSQL

        if self._on_loop is None:
            url = self.database.engine.url.set(drivername="postgresql")
            self._on_loop = await psycopg.AsyncConnection.connect(url.render_as_string(hide_password=False),
                                                                  autocommit=True, connect_timeout=10)
        cursor = await self._on_loop.execute(REVISION)
        found = [row[0] for row in await cursor.fetchall()]
        if len(found) > 1:
            raise LookupError("several revisions")  # Alembic's reading explains (a branched history)
        return found[0] if found else None

    async def _close_on_loop(self) -> None:
        connection, self._on_loop = self._on_loop, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    def read(self) -> str | None:
        """The revision (None: not migrated); raises when the database does not answer."""
        with self._lock:
            try:
                if self._raw is None:
                    raw = self.database.engine.raw_connection()
                    raw.detach()
                    if self.database.dialect == "postgresql":  # the pool's pre-ping left a transaction open
                        raw.dbapi_connection.rollback()  # type: ignore[union-attr]
                        raw.dbapi_connection.autocommit = True  # type: ignore[union-attr]
                    self._raw = raw
                cursor = self._raw.cursor()
                try:
                    cursor.execute(REVISION)
                    found = [row[0] for row in cursor.fetchall()]
                finally:
                    cursor.close()
                if len(found) <= 1:
                    return found[0] if found else None
            except Exception:  # no alembic_version table, or no database: Alembic's reading tells which
                self._close()
        return migrations.current(self.database)

    def close(self) -> None:
        with self._lock:
            self._close()

    async def aclose(self) -> None:
        await self._close_on_loop()
        self.close()

    def _close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.close()


def _settle(waiting: asyncio.Future[str | None], done: asyncio.Future[str | None]) -> None:
    if waiting.done():
        return
    if done.cancelled():
        waiting.cancel()
    elif done.exception() is not None:
        waiting.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        waiting.set_result(done.result())


@router.get("/health", response_model=HealthOut, responses=documented(503))
async def health(request: Request) -> Response:
    """``ok`` with the schema revision when the database answers and is at this code's revision; a 503
    problem saying which when it does not answer or is at another revision."""
    revision = await _revision(request.app)
    if revision is None or revision != request.app.state.schema_head:
        raise _behind(request.app.state, revision)
    return Response(_healthy_body(request.app, revision), media_type="application/json")


async def _revision(app: Any) -> str | None:
    database: Database = app.state.database
    try:
        return await app.state.revisions.current()
    except Exception as exc:  # any driver failure means "not healthy", said plainly
        raise Unavailable(f"the database {database.describe()} does not answer: {type(exc).__name__}") from exc


def _behind(state: Any, revision: str | None) -> Unavailable:
    found = "not migrated (no revision)" if revision is None else f"at revision {revision}"
    return Unavailable(f"the database {state.database.describe()} is {found}, but this server's code needs revision "
                       f"{state.schema_head}: run `labgate-server migrate` with this code, or run the code that "
                       f"matches the database, and restart")


def _healthy_body(app: Any, revision: str) -> bytes:
    state = app.state
    body: bytes | None = getattr(state, "healthy_body", None)
    if body is None:
        body = state.healthy_body = HealthOut(
            status="ok", database=state.database.dialect, revision=revision, head=state.schema_head,
            version=app.version, channels=getattr(state, "channel_states", {})).model_dump_json().encode()
    return body


class FrontDoor:
    """``GET /health`` answered ahead of the router (a plain ASGI middleware, the innermost), when the
    answer is healthy: load balancers ask several times a second per process, and the router, its
    exception layers and its dependency solving cost a probe more than the probe's own work (the same
    database read, the same body). Every other answer (a database down or behind, any other method)
    is left to the route, which reads again and says why as a problem; the route also documents it.
    The middlewares outside this one (metrics, body guard, security headers) apply as to any request."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._route: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/health" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        try:
            revision = await _revision(app)
        except Unavailable:
            revision = None
        if revision is None or revision != app.state.schema_head:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route or self._find(app)  # the metrics' label, as if the router had taken it
        body = _healthy_body(app, revision)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    def _find(self, app: Any) -> Any:
        self._route = next(route for route in router.routes if getattr(route, "endpoint", None) is health)
        return self._route
