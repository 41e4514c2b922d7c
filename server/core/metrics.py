"""Prometheus metrics of the HTTP service: requests by method, route template and status, and a
latency histogram; ``GET /metrics`` serves them with whatever collectors the domains add.

With several server processes (``labgate-server run --workers N``) each process writes its counters
to ``PROMETHEUS_MULTIPROC_DIR`` (``run`` makes one) and a scrape of any process adds them all up.
Figures a domain can read from the database (queue sizes) are better read at scrape time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("labgate_http_requests_total", "HTTP requests by method, route template and status code",
                   ["method", "route", "status"], registry=None)
LATENCY = Histogram("labgate_http_request_duration_seconds", "Time to answer an HTTP request, by method and route "
                    "template", ["method", "route"], registry=None,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
UNMATCHED = "unmatched"  # any path no route took (404s): one label, not one per path a scanner tries

router = APIRouter(tags=["health"])


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def registry(process_local: Iterable[Collector], scraped: Iterable[Collector]) -> CollectorRegistry:
    """The registry ``/metrics`` serves: this module's and ``process_local`` metrics (this process's,
    or every process's in multiprocess mode) and ``scraped`` collectors (which read shared state)."""
    made = CollectorRegistry(auto_describe=True)
    if multiprocess_dir():
        MultiProcessCollector(made)
    else:
        for collector in (REQUESTS, LATENCY, *process_local):
            made.register(collector)
    for collector in scraped:
        made.register(collector)
    return made


@router.get("/metrics", response_class=Response, responses={200: {
    "content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format 0.0.4"}})
def metrics(request: Request) -> Response:
    """Prometheus metrics: HTTP requests and latency, and each domain's figures (notifications)."""
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """ASGI middleware counting each HTTP request by the route that took it (its template, such as
    ``/api/v1/people/{person_id}``) and timing it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            key = (scope.get("method", "GET"), self._template(scope), status)
            children = self._children.get(key)
            if children is None:  # the labelled series, looked up once per (method, route, status)
                method, route, _ = key
                children = self._children[key] = (REQUESTS.labels(method=method, route=route, status=str(status)),
                                                   LATENCY.labels(method=method, route=route))
            children[0].inc()
            children[1].observe(time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        route: Any = scope.get("route")
        if route is None:
            return UNMATCHED
        if self._templates is None:
            from server.core.openapi import operations

            self._templates = {id(r): path for _method, path, r in operations(scope["app"])}
        return self._templates.get(id(route)) or str(getattr(route, "path", UNMATCHED))
