"""Is the server up, its database reachable, and the database's schema the one this code was written
for? (for load balancers, systemd and people). The server refuses to start on a database that is not
at the code's head revision; a database migrated or rolled back under a running server is caught here."""

from __future__ import annotations

from fastapi import APIRouter, Request
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


@router.get("/health", response_model=HealthOut, responses=documented(503))
def health(request: Request) -> HealthOut:
    """``ok`` with the schema revision when the database answers and is at this code's revision; a 503
    problem saying which when it does not answer or is at another revision."""
    database: Database = request.app.state.database
    head: str = request.app.state.schema_head
    try:
        revision = migrations.current(database)
    except Exception as exc:  # any driver failure means "not healthy", said plainly
        raise Unavailable(f"the database {database.describe()} does not answer: {type(exc).__name__}") from exc
    if revision != head:
        found = "not migrated (no revision)" if revision is None else f"at revision {revision}"
        raise Unavailable(f"the database {database.describe()} is {found}, but this server's code needs revision "
                          f"{head}: run `labgate-server migrate` with this code, or run the code that matches the "
                          f"database, and restart")
    return HealthOut(status="ok", database=database.dialect, revision=revision, head=head, version=request.app.version,
                     channels=getattr(request.app.state, "channel_states", {}))
