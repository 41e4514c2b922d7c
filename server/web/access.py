"""Who is looking at a page: the session cookie, the role chosen, the CSRF check, and which roles may
open a page, taken from the API operation the page stands for (one policy for both).

A page's dependency raises ``SignIn`` (no valid session: to the sign-in page), ``ChooseRole`` (signed in,
no role chosen yet) or ``Forbidden`` (this role may not). ``PageRoute`` turns those and every service
error into an HTML answer instead of the API's problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Form, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from server.auth import sessions
from server.auth.actor import Actor
from server.core.dependencies import SessionDep
from server.core.errors import Forbidden, Invalid, ServiceError
from server.core.problems import status_of
from server.notifications import contacts
from server.web.policy import roles_of
from server.web.rendering import error_page

log = logging.getLogger("labgate.web")

COOKIE = "labgate_session"
LOGIN_COOKIE = "labgate_login"  # the sign-in form's CSRF secret (double submit), before any session


class SignIn(Exception):
    """No valid session: the browser goes to the sign-in page (and forgets a cookie that was refused)."""


class ChooseRole(Exception):
    """Signed in, holding several roles, none chosen yet."""


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, token: str, hours: float) -> None:
    response.set_cookie(COOKIE, token, max_age=int(hours * 3600), httponly=True, secure=secure(request),
                        samesite="lax", path="/")


def signed(request: Request, session: SessionDep) -> sessions.Current:
    """The live session of this browser; ``SignIn`` without one (none, altered, ended, expired)."""
    found = sessions.current(session, request.cookies.get(COOKIE))
    if found is None:
        raise SignIn()
    request.state.web = found
    request.state.lang = contacts.contact(session, found.person.id).language  # each person's own language
    return found


Signed = Annotated[sessions.Current, Depends(signed)]


def acting(found: Signed) -> Actor:
    """The signed-in person in the role they chose; ``ChooseRole`` when they have not yet."""
    if found.role is None:
        raise ChooseRole()
    return found.actor()


Acting = Annotated[Actor, Depends(acting)]


def csrf_checked(found: Signed, csrf: Annotated[str | None, Form(max_length=200)] = None,
                 x_csrf_token: Annotated[str | None, Header(max_length=200)] = None) -> sessions.Current:
    """Every form a session posts carries its CSRF secret (a field, or htmx's X-CSRF-Token header)."""
    if not sessions.csrf_matches(found, csrf or x_csrf_token):
        log.warning("event=csrf_refused person=%s", found.person.number)
        raise Forbidden("this form's security token is missing or out of date; reload the page and send it again")
    return found


Checked = Annotated[sessions.Current, Depends(csrf_checked)]


def may(request: Request, actor: Actor, operation: str) -> bool:
    return actor.role in roles_of(request.app, operation)


class Allowed:
    """A page for the roles the API allows ``operation`` to."""

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __call__(self, request: Request, actor: Acting) -> Actor:
        allowed = roles_of(request.app, self.operation)
        if not allowed:
            raise RuntimeError(f"no API operation {self.operation} to take the page's roles from")
        if actor.role not in allowed:
            raise Forbidden(f"the role {actor.role} may not open this page; it is for: {', '.join(sorted(allowed))}")
        return actor


def allowed(operation: str) -> Any:
    return Depends(Allowed(operation))


class PageRoute(APIRoute):
    """A page: sign-in, role choice, refusals and service errors answer as pages, not problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                if request.method == "POST":
                    await _storable(request)
                return await handler(request)
            except SignIn:
                response = _redirect(request, "/login")
                if COOKIE in request.cookies:
                    response.delete_cookie(COOKIE, path="/")
                return response
            except ChooseRole:
                return _redirect(request, "/role")
            except ServiceError as exc:
                return error_page(request, exc, status_of(exc))
            except RequestValidationError as exc:
                return error_page(request, exc, 422)

        return page


async def _storable(request: Request) -> None:
    """A form field with a NUL character (``%00``) is refused: no database stores one (the body guard
    finds them in JSON bodies and URLs; a form's encoding hides them from it). The form is parsed once
    here and kept by the request for the endpoint."""
    if not request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                                  "multipart/form-data")):
        return
    form = await request.form()
    for name, value in form.multi_items():
        if isinstance(value, str) and "\x00" in value:
            raise Invalid(f"the field {name[:40]} contains a NUL character; no field accepts one",
                          [(["form", name[:40]], "contains NUL")])


def _redirect(request: Request, to: str) -> Response:
    if request.headers.get("hx-request"):  # htmx follows this header instead of swapping the page in
        return Response(status_code=204, headers={"HX-Redirect": to})
    return RedirectResponse(to, status_code=303)
