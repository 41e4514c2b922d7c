"""RFC 9457 problem details: the schema, and the handlers that turn every error into one.

Service errors map to their status here, validation errors list each field fault in ``errors``, and
an unexpected exception becomes a 500 problem with an id to find it in the log (its text is not sent).
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.core import errors

log = logging.getLogger("labgate.server")

MEDIA_TYPE = "application/problem+json"

STATUS: dict[type[errors.ServiceError], int] = {
    errors.BadRequest: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedType: 415,
    errors.Invalid: 422,
    errors.TooManyAttempts: 429,
    errors.Unavailable: 503,
}


class FieldFault(BaseModel):
    loc: list[str | int] = Field(description="where: e.g. ['body', 'events', 3, 'seq'] or ['line 7', 'number']")
    msg: str


class Problem(BaseModel):
    """An error, as RFC 9457 application/problem+json."""

    type: str = Field(description="a URI naming the kind of problem", examples=["urn:labgate:problem:not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(ge=400, le=599, examples=[404])
    detail: str = Field(description="what was wrong, with what value, and what to do")
    instance: str | None = Field(default=None, description="the request path")
    errors: list[FieldFault] | None = None


HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds until the next attempt may succeed",
                          "schema": {"type": "integer", "minimum": 1}}},
    503: {"Retry-After": {"description": "when busy: seconds until a retry may succeed (absent when a part is "
                                         "missing rather than busy)", "schema": {"type": "integer", "minimum": 1}}},
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer ``codes`` beyond the usual 4xx: problem+json, with
    the headers that come with the status (``Retry-After`` on 429)."""
    return {code: response(code, HTTPStatus(code).phrase) for code in codes}


def response(code: int, description: str) -> dict[str, Any]:
    """An OpenAPI response object for a problem with ``code``."""
    entry: dict[str, Any] = {"description": description,
                             "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if code in HEADERS:
        entry["headers"] = HEADERS[code]
    return entry


def problem(status: int, detail: str, path: str | None = None, faults: list[tuple[list[Any], str]] | None = None,
            headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> JSONResponse:
    phrase = HTTPStatus(status).phrase
    slug = phrase.lower().replace(" ", "-").replace("'", "")
    body: dict[str, Any] = {
        "type": f"urn:labgate:problem:{slug}",
        "title": phrase,
        "status": status,
        "detail": detail,
        "instance": path,
    }
    if faults:
        body["errors"] = [{"loc": [_loc(part) for part in loc], "msg": msg} for loc, msg in faults]
    body.update({k: v for k, v in (extra or {}).items() if k not in body})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _loc(part: Any) -> str | int:
    return part if isinstance(part, int) and not isinstance(part, bool) else str(part)


def status_of(error: errors.ServiceError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]  # type: ignore[index]
    return 400


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ServiceError)
    headers = {"Retry-After": str(max(1, exc.retry_after))} if exc.retry_after is not None else None
    if isinstance(exc, errors.Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    return problem(status_of(exc), exc.detail, request.url.path, exc.errors or None, headers, exc.extra or None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    faults = [(list(item.get("loc", ())), str(item.get("msg", "invalid"))) for item in exc.errors()]
    shown = "; ".join(f"{'.'.join(str(p) for p in loc)}: {msg}" for loc, msg in faults[:5])
    more = f" (and {len(faults) - 5} more)" if len(faults) > 5 else ""
    return problem(422, f"the request is not valid: {shown}{more}", request.url.path, faults)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no endpoint at {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem(exc.status_code, detail, request.url.path, headers=dict(exc.headers or {}) or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.exception("event=unhandled_error incident=%s path=%s", incident, request.url.path)
    return problem(500, f"the server failed on this request; the log has it as incident {incident}", request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
