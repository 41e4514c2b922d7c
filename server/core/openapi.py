"""The OpenAPI document, completed: each operation's roles (``x-roles`` and a line in its description),
its error responses as problem+json, and the Event schema the batch endpoint checks events against."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from server.auth.dependencies import guards_of
from server.core.problems import Problem, response
from server.devices.dependencies import DeviceGuard
from server.presence.schemas import EventIn


def operations(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """(METHOD, full path, route) of every API operation, through included routers (not the web pages)."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and context.path_format:
            for method in sorted(route.methods or ()):
                yield method, context.path_format, route


def policy(route: APIRoute) -> list[str]:
    """The roles a route allows: role names, ["device"] for kiosk endpoints, [] for public ones."""
    guards = guards_of(route)
    if guards:
        allowed: set[str] = set(guards[0].roles)
        for guard in guards[1:]:
            allowed &= guard.roles
        return sorted(str(role) for role in allowed)
    if _depends_on(route, DeviceGuard):
        return ["device"]
    return []


def _depends_on(route: APIRoute, kind: type) -> bool:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, kind):
            return True
        stack.extend(dependant.dependencies)
    return False


def build(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                           tags=app.openapi_tags)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["FieldFault"] = components["Problem"].pop("$defs")["FieldFault"]
    components["Event"] = EventIn.model_json_schema(ref_template="#/components/schemas/{model}")
    # The batch route takes any JSON values as events so that one malformed event is rejected alone
    # (the reply says why) instead of failing the batch; what a kiosk should send is an Event.
    components["EventBatchIn"]["properties"]["events"]["items"] = {"$ref": "#/components/schemas/Event"}
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for method, path, route in operations(app):
        _complete(document["paths"][path][method.lower()], policy(route))
    app.openapi_schema = document
    return document


def _complete(operation: dict[str, Any], roles: list[str]) -> None:
    operation["x-roles"] = roles
    who = ("Kiosks only (device token)." if roles == ["device"] else
           f"Roles: {', '.join(roles)}." if roles else "Public.")
    operation["description"] = f"{operation.get('description', '').strip()}\n\n{who}".strip()
    responses = operation.setdefault("responses", {})
    problems = {"422": "the request is not valid (each fault in errors)", "4XX": "a client error"}
    if roles:
        problems["401"] = "not signed in, or the token is wrong, expired or revoked"
        problems["403"] = "signed in, but this role (or token kind) may not do this"
    for code, text in problems.items():
        responses[code] = response(int(code) if code.isdigit() else 400, text)
