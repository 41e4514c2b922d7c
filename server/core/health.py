"""Is the server up and its database reachable and migrated? (for load balancers and systemd)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text

from server.core.database import Database
from server.core.errors import Unavailable

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    database: str
    revision: str | None
    version: str


@router.get("/health", response_model=HealthOut)
def health(request: Request) -> HealthOut:
    database: Database = request.app.state.database
    try:
        with database.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any driver failure means "not healthy", said plainly
        raise Unavailable(f"the database does not answer: {type(exc).__name__}") from exc
    return HealthOut(status="ok", database=database.dialect, revision=revision, version=request.app.version)
