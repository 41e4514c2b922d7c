"""Signing in and out, choosing and switching the role, the home page."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from server.auth import service as auth
from server.auth import sessions
from server.auth.dependencies import KeysDep
from server.core.dependencies import ClientDep, SessionDep, SettingsDep
from server.core.errors import ServiceError, TooManyAttempts, Unauthenticated
from server.core.problems import status_of
from server.web import texts
from server.web.access import COOKIE, LOGIN_COOKIE, Acting, Checked, PageRoute, Signed, set_cookie
from server.web.rendering import language, render

log = logging.getLogger("labgate.web")

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/")
def root(request: Request, session: SessionDep) -> Response:
    signed_in = sessions.current(session, request.cookies.get(COOKIE)) is not None
    return RedirectResponse("/home" if signed_in else "/login", status_code=303)


def _login_page(request: Request, status: int = 200, problem: str | None = None, number: str = "") -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "login.html", status=status, login_csrf=token, problem=problem, number=number)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, secure=request.url.scheme == "https", samesite="lax",
                        path="/login", max_age=3600)
    lang = request.query_params.get("lang")
    if lang in texts.LANGUAGES:
        response.set_cookie("labgate_lang", lang, httponly=True, samesite="lax", path="/", max_age=365 * 86400,
                            secure=request.url.scheme == "https")
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(request: Request, session: SessionDep, keys: KeysDep, settings: SettingsDep, client: ClientDep,
          number: Annotated[str, Form(max_length=40)] = "", password: Annotated[str, Form(max_length=1024)] = "",
          csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The API's password check and failed-login limits (``auth.authenticate``), then a cookie session."""
    t = texts.translator(language(request))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf.encode()):
        return _login_page(request, 403, t("The form's security token is missing or out of date; try again."),
                           number)
    if not number or not password:
        return _login_page(request, 422, t("Enter your number and your password."), number)
    try:
        person = auth.authenticate(session, keys, number, password, client)
    except Unauthenticated:
        session.commit()
        return _login_page(request, 401, t("The number or the password is wrong."), number)
    except TooManyAttempts as exc:
        response = _login_page(request, 429, t("Too many failed sign-ins; wait and try again in") +
                               f" {exc.retry_after} s.", number)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ServiceError as exc:  # every hashing turn busy
        return _login_page(request, status_of(exc), exc.detail, number)
    opened = sessions.open_session(session, person, client, settings.web_session_hours)
    sessions.prune(session)
    session.commit()
    log.info("event=web_login number=%s roles=%s", person.number, ",".join(person.role_names))
    response = RedirectResponse("/home" if len(person.role_names) == 1 else "/role", status_code=303)
    set_cookie(response, request, opened.token, settings.web_session_hours)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.get("/role")
def role_page(request: Request, found: Signed) -> Response:
    actor = found.actor() if found.role else None
    return render(request, "role.html", actor=actor, roles=found.person.role_names, current=found.role)


@router.post("/role")
def choose_role(request: Request, found: Checked, session: SessionDep, settings: SettingsDep,
                role: Annotated[str, Form(max_length=16)]) -> Response:
    """Act in another of one's roles; the session gets a new cookie."""
    opened = sessions.choose_role(session, found, role)
    log.info("event=web_role number=%s role=%s", found.person.number, role)
    response = RedirectResponse("/home", status_code=303)
    set_cookie(response, request, opened.token, settings.web_session_hours)
    return response


@router.post("/logout")
def logout(request: Request, _: Checked, session: SessionDep) -> Response:
    sessions.end(session, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/home")
def home(request: Request, actor: Acting) -> Response:
    return render(request, "home.html", actor=actor)
