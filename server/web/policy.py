"""Which roles may open a page: those the API lets call the operation the page stands for, read from
the API routes' role guards, so the pages and the API keep one policy."""

from __future__ import annotations

from fastapi import FastAPI

from server.auth.dependencies import guards_of
from server.core.openapi import operations

API = "/api/v1"


def roles_of(app: FastAPI, operation: str) -> frozenset[str]:
    """The roles the API lets call ``operation`` ("GET /people"): the page that shows or does the same
    thing lets in the same roles."""
    return _policy(app).get(operation, frozenset())


def _policy(app: FastAPI) -> dict[str, frozenset[str]]:
    policy: dict[str, frozenset[str]] | None = getattr(app.state, "page_policy", None)
    if policy is None:
        policy = {}
        for method, path, route in operations(app):
            guards = guards_of(route)
            if path.startswith(API) and guards:
                policy[f"{method} {path[len(API):]}"] = frozenset.intersection(*(frozenset(g.roles) for g in guards))
        app.state.page_policy = policy
    return policy
