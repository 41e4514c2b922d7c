"""Request-scoped things every router needs: the settings and a database session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from server.core.database import Database
from server.core.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for the request, made in the event loop (making one opens nothing) and closed after
    the endpoint. Closing ends a transaction still open (a read's): on PostgreSQL that is a round
    trip, made in a worker thread; SQLite's is a call inside this process, made here. (A sync
    generator would cost two worker-thread hops per request, one to open and one to close.)"""
    database: Database = request.app.state.database
    session = database.sessions()
    try:
        yield session
    finally:
        if session.in_transaction() and not database.in_process:
            await anyio.to_thread.run_sync(session.close)
        else:
            session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientDep = Annotated[str, Depends(client_address)]
