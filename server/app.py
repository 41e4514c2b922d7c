"""The FastAPI application: settings, database, keys, routers, errors, the OpenAPI document.

``create_app()`` refuses to build on a database that is not migrated to this code's schema and says
which command fixes it; uvicorn calls it as a factory (``labgate-server run``). ``openapi_document()``
needs no database at all.
"""

from __future__ import annotations

import gc
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from server.audit.router import router as audit_router
from server.auth.loop_reads import ActorReads
from server.auth.passwords import Passwords
from server.auth.router import router as auth_router
from server.auth.service import Keys
from server.bookings import checkin
from server.bookings.router import router as bookings_router
from server.core import docs, health, metrics, migrations, openapi, problems
from server.core.bodyguard import BodyGuard
from server.core.database import Database
from server.core.headers import SecurityHeaders
from server.core.keys import stored_secret
from server.core.settings import Settings
from server.devices.protocol import router as protocol_router
from server.devices.router import router as devices_router
from server.faces.engine import FaceProvider
from server.faces.router import router as faces_router
from server.feed.router import router as feed_router
from server.notifications.metrics import ATTEMPTS, OutboxCollector
from server.notifications.router import router as notifications_router
from server.notifications.runner import sending
from server.notifications.settings import NotifySettings
from server.people.router import router as people_router
from server.presence.router import router as presence_router
from server.qr.router import router as qr_router
from server.qr.signing import QrSigner, new_private_key_b64
from server.recruitment.dependencies import storage_for
from server.recruitment.router import router as recruitment_router
from server.web import mount as pages

VERSION = "0.1.0"
API = "/api/v1"
UPLOAD_PATHS = ("/photos", "/faces:identify", "/people:import", "/applications", "/pamphlet", "/attendance")

DESCRIPTION = """LabGate's central server: people and roles, kiosk provisioning, the kiosk protocol
(event push, changes feed), attendance, room bookings, the face API, the audit log, notifications (announcements,
email, push and WhatsApp through an outbox), and the recruitment of lab assistants (vacancies, applications
with transcripts read and checked, selection, activation, attendance, contract end, certificates). People
also use the web pages at `/` (sign in at `/login`).

Sign in with `POST /api/v1/auth/login`, then send `Authorization: Bearer <access_token>`. Kiosks
send their device token. Every operation says which roles may call it (`x-roles`). Errors are
RFC 9457 `application/problem+json`."""


class LabGate(FastAPI):
    """FastAPI with the security headers outside everything, so even a 500 carries them."""

    def build_middleware_stack(self) -> Any:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(settings: Settings | None = None, database: Database | None = None,
               notifications: NotifySettings | None = None) -> FastAPI:
    settings = settings or Settings()
    notifications = notifications or NotifySettings()
    database = database or Database(settings.database_url)
    migrations.check(database)
    jwt_secret = (settings.secret_key.get_secret_value() if settings.secret_key else
                  stored_secret(database, "jwt_secret", lambda: secrets.token_urlsafe(48)))
    qr_key = (settings.qr_private_key.get_secret_value() if settings.qr_private_key else
              stored_secret(database, "qr_ed25519_private", new_private_key_b64))
    return assemble(settings, database, jwt_secret, qr_key, notifications)


def served_app() -> FastAPI:
    """The application as `labgate-server run` serves it (uvicorn's factory, once in each worker process),
    with the heap built so far frozen: the cyclic garbage collector no longer walks the routes, models,
    schemas and modules every full collection. Those collections, over the whole start-up heap, were the
    long tail of a signed-in GET (bench/server.py, SQLite, 2 processes: p95 64 -> 18 ms, p99 126 -> 24 ms).
    Plain reference counting still frees what start-up made and later drops."""
    app = create_app()
    gc.collect()
    gc.freeze()
    return app


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The OpenAPI document, built without opening any database (nothing is written anywhere)."""
    settings = settings or Settings()
    return assemble(settings, Database("sqlite://"), secrets.token_urlsafe(48), new_private_key_b64(),
                    NotifySettings()).openapi()


def assemble(settings: Settings, database: Database, jwt_secret: str, qr_key: str,
             notifications: NotifySettings) -> FastAPI:
    """The application on a database already checked, with its keys."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with (sending(database, notifications) as sender,  # the outbox's sender, in every process
                    checkin.running(database, settings.booking_job_seconds)):  # no-shows released, kiosks told
            app.state.sender = sender
            yield
        await app.state.revisions.aclose()
        await app.state.actor_reads.aclose()
        database.dispose()

    app = LabGate(title="LabGate server", version=VERSION, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  openapi_tags=[{"name": n} for n in ("auth", "people", "faces", "devices", "kiosk protocol",
                                                      "attendance", "bookings", "qr", "audit", "notifications",
                                                      "recruitment", "health")])
    app.state.settings = settings
    app.state.database = database
    app.state.schema_head = migrations.head()
    app.state.revisions = health.Revisions(database)
    app.state.actor_reads = ActorReads(database)
    app.state.auth_keys = Keys(settings, Passwords(settings), jwt_secret.encode())
    app.state.qr_signer = QrSigner(qr_key)
    app.state.faces = FaceProvider(settings)
    app.state.notify_settings = notifications
    app.state.channel_states = {channel.value: state for channel, state in notifications.state().items()}
    app.state.recruitment_storage = storage_for(settings)
    app.state.metrics_registry = metrics.registry([ATTEMPTS], [OutboxCollector(database)])

    problems.install(app)
    app.include_router(health.router)  # first: routes are tried in order, and load balancers ask often
    for router in (auth_router, people_router, feed_router, faces_router, qr_router, devices_router, protocol_router,
                   presence_router, audit_router, notifications_router, bookings_router, recruitment_router):
        app.include_router(router, prefix=API)
    docs.install(app)
    app.include_router(metrics.router)
    pages.install(app)  # the web pages under / (after every API route)

    def document() -> dict[str, Any]:
        return openapi.build(app)

    app.openapi = document  # type: ignore[method-assign]
    # Plain ASGI middleware, innermost first; the security headers wrap them all (LabGate above).
    app.add_middleware(health.FrontDoor)  # type: ignore[arg-type]
    app.add_middleware(BodyGuard, default=settings.request_max_bytes,  # type: ignore[arg-type]
                       uploads=max(settings.photo_max_bytes, settings.recruitment_max_bytes, 5_000_000)
                       + 100_000, upload_suffixes=UPLOAD_PATHS)
    if settings.proxies:  # X-Forwarded-For believed from these addresses only; by default from none
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxies)  # type: ignore[arg-type]
    app.add_middleware(metrics.RequestMetrics)  # type: ignore[arg-type]
    return app
