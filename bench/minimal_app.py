"""The floor bench/server.py compares labgate-server with: a minimal FastAPI app on the same database
doing about the least FastAPI and SQLAlchemy can do for the same answers, with nothing of LabGate's
around it (no sign-in, no middleware, no metrics, no problem documents).

- ``GET /api/v1/people?limit=50&offset=0``: the same page as labgate-server's (the same 50 people in
  number order, each with its roles, and the total) in a plain ``def`` endpoint: three SQLAlchemy Core
  queries on one pooled connection (the total, the page, the page's roles), rows turned into dicts
  and returned through FastAPI's ``JSONResponse``. (The ORM's ``selectinload`` and FastAPI's
  ``jsonable_encoder`` would make this floor slower and the comparison flattering.)
- ``GET /api/v1/people/{id}``: one person with their roles, as labgate-server's answer, by the same
  means (two Core queries on one pooled connection).
- ``GET /hello``: ``{"status": "ok"}`` from an ``async def`` endpoint, nothing else.

It uses labgate's mapped classes and engine settings (pool, SQLite pragmas) so only the application
layer differs. Run by bench/server.py with uvicorn's options of ``labgate-server run``:

    LABGATE_DATABASE_URL=sqlite:///... .venv/bin/python -m uvicorn bench.minimal_app:create_app --factory
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from server.core.database import Database
from server.people.tables import Person, PersonRole

PEOPLE, ROLES = Person.__table__, PersonRole.__table__


def create_app() -> FastAPI:
    database = Database(os.environ["LABGATE_DATABASE_URL"])
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/people")
    def people(limit: int = 50, offset: int = 0) -> JSONResponse:
        with database.engine.connect() as connection:
            total = connection.scalar(select(func.count()).select_from(PEOPLE))
            rows = connection.execute(select(PEOPLE).order_by(PEOPLE.c.number).offset(offset).limit(limit)).all()
            held: dict[str, list[str]] = {row.id: [] for row in rows}
            for person_id, role in connection.execute(select(ROLES.c.person_id, ROLES.c.role).where(
                    ROLES.c.person_id.in_(list(held))).order_by(ROLES.c.role)):
                held[person_id].append(role)
        items = [_item(p, held[p.id]) for p in rows]
        return JSONResponse({"items": items, "total": total, "offset": offset, "limit": limit})

    @app.get("/api/v1/people/{person_id}")
    def person(person_id: str) -> JSONResponse:
        with database.engine.connect() as connection:
            row = connection.execute(select(PEOPLE).where(PEOPLE.c.id == person_id)).one()
            roles = list(connection.scalars(select(ROLES.c.role).where(ROLES.c.person_id == person_id)
                                            .order_by(ROLES.c.role)))
        return JSONResponse(_item(row, roles))

    return app


def _item(p: Any, roles: list[str]) -> dict[str, Any]:
    return {"id": p.id, "number": p.number, "name": p.name, "kind": p.kind, "roles": roles, "active": p.active,
            "has_pin": p.pin_hash is not None, "version": p.version, "created_at": p.created_at.isoformat(),
            "updated_at": p.updated_at.isoformat()}
