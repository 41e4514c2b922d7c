"""Is the server up, its database reachable, and the database's schema the one this code was written
for? (for load balancers, systemd and people). The server refuses to start on a database that is not
at the code's head revision; a database migrated or rolled back under a running server is caught here.

Every answer comes from a read of the revision begun after its request arrived (one small query on
a connection kept for it; ``Revisions``). The healthy answer is serialised once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from server.core import migrations
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

    Every answer comes from a read that began after its request arrived. On PostgreSQL (a read in a
    worker thread) one read is under way at a time: the requests that arrive while it is share the
    one that starts when it ends, so a crowd of probes costs one read per round trip, not one each."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.reading: asyncio.Future[str | None] | None = None  # the read under way
        self.waiting: asyncio.Future[str | None] | None = None  # the next read's answer, for later arrivals
        self._lock = threading.Lock()
        self._raw: Any = None  # the pool's connection wrapper, detached from the pool

    async def current(self) -> str | None:
        if self.database.in_process:  # one call into this process: nothing to wait for, nothing to share
            return self.read()
        if self.reading is None:
            return await asyncio.shield(self._start())
        if self.waiting is None:  # the read under way began before this request: wait for the next
            self.waiting = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self.waiting)

    def _start(self) -> asyncio.Future[str | None]:
        reading = self.reading = asyncio.ensure_future(self.database.call(self.read))
        reading.add_done_callback(self._done)
        return reading

    def _done(self, reading: asyncio.Future[str | None]) -> None:
        self.reading = None
        if not reading.cancelled():
            reading.exception()  # retrieved here too, so a failure no one awaited is not logged as lost
        waiting, self.waiting = self.waiting, None
        if waiting is not None:
            self._start().add_done_callback(lambda done: _settle(waiting, done))

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
    state = request.app.state
    database: Database = state.database
    head: str = state.schema_head
    revisions: Revisions = state.revisions
    try:
        revision = await revisions.current()
    except Exception as exc:  # any driver failure means "not healthy", said plainly
        raise Unavailable(f"the database {database.describe()} does not answer: {type(exc).__name__}") from exc
    if revision != head:
        found = "not migrated (no revision)" if revision is None else f"at revision {revision}"
        raise Unavailable(f"the database {database.describe()} is {found}, but this server's code needs revision "
                          f"{head}: run `labgate-server migrate` with this code, or run the code that matches the "
                          f"database, and restart")
    body: bytes | None = getattr(state, "healthy_body", None)
    if body is None:
        body = state.healthy_body = HealthOut(
            status="ok", database=database.dialect, revision=revision, head=head, version=request.app.version,
            channels=getattr(state, "channel_states", {})).model_dump_json().encode()
    return Response(body, media_type="application/json")
