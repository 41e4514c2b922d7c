"""Put the pages on the application: their routers under ``/`` and their static files under ``/static``
(the stylesheet and htmx, vendored: no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from server.core.headers import STATIC_PREFIX
from server.web import account, admin, bookings, me, recruitment, reports

STATIC = Path(__file__).resolve().parent / "static"
HTMX_VERSION = "2.0.11"  # npm package htmx.org; static/vendor/htmx/ holds its dist/htmx.min.js and LICENSE


def install(app: FastAPI) -> None:
    for router in (account.router, me.router, admin.router, reports.router):
        app.include_router(router)
    app.include_router(bookings.router)
    app.include_router(recruitment.router)
    app.mount(STATIC_PREFIX.rstrip("/"), StaticFiles(directory=STATIC), name="static")
