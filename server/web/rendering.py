"""Pages from templates: the Jinja2 environment (autoescaping on), the language of the page, the
navigation a role sees, and the error page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from server.core.errors import ServiceError
from server.web import texts
from server.web.policy import roles_of

TEMPLATES = Path(__file__).resolve().parent / "templates"

ENVIRONMENT = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

# (path, label, the API operation whose roles may open it; None: everyone signed in)
NAVIGATION: tuple[tuple[str, str, str | None], ...] = (
    ("/home", "Home", None),
    ("/me/attendance", "My attendance", None),
    ("/me/qr", "My QR code", None),
    ("/announcements", "Announcements", None),
    ("/me/settings", "Settings", None),
    # bookings
    ("/bookings", "Book a room", "POST /bookings"),
    ("/bookings/mine", "My bookings", "GET /bookings"),
    ("/bookings/series", "Book a series", "POST /bookings"),
    ("/bookings/rooms", "Room calendars", "GET /bookings"),
    ("/admin/approvals", "Approvals", "POST /bookings/{booking_id}:approve"),
    ("/admin/no-shows", "No-shows", "GET /bookings/no-shows"),
    ("/admin/people", "People", "GET /people"),
    ("/admin/kiosks", "Kiosks", "GET /devices"),
    ("/admin/attendance", "Attendance reports", "GET /attendance"),
    ("/admin/announcements", "New announcement", "POST /announcements"),
    ("/admin/notifications", "Dead notifications", "GET /notifications/messages"),
    ("/admin/audit", "Audit log", "GET /audit"),
    # recruitment (server/web/recruitment.py)
    ("/vacancies", "Vacancies", "GET /recruitment/vacancies"),
    ("/me/applications", "My applications", "POST /recruitment/vacancies/{vacancy_id}/applications"),
    ("/recruitment/new", "New vacancy", "POST /recruitment/vacancies"),
    ("/assistant", "My assistantship", "POST /recruitment/assistantships/{assistantship_id}/attendance"),
)


def language(request: Request) -> str:
    chosen = getattr(request.state, "lang", None)
    if chosen in texts.LANGUAGES:
        return str(chosen)
    asked = request.query_params.get("lang") or request.cookies.get("labgate_lang") or ""
    if asked in texts.LANGUAGES:
        return asked
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else texts.DEFAULT


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    lang = language(request)
    web = getattr(request.state, "web", None)
    actor = values.pop("actor", None)
    context = {
        "lang": lang, "t": texts.translator(lang), "path": request.url.path,
        "csrf": web.csrf if web is not None else values.pop("login_csrf", ""),
        "actor": actor, "person": web.person if web is not None else None,
        "navigation": _navigation(request, actor), "notice": None, "problem": None, **values,
    }
    return HTMLResponse(ENVIRONMENT.get_template(template).render(context), status_code=status)


def _navigation(request: Request, actor: Any) -> list[tuple[str, str]]:
    if actor is None:
        return []
    return [(path, label) for path, label, operation in NAVIGATION
            if operation is None or actor.role in roles_of(request.app, operation)]


def error_page(request: Request, exc: ServiceError | RequestValidationError, status: int) -> HTMLResponse:
    if isinstance(exc, ServiceError):
        detail, faults = exc.detail, [msg for _, msg in exc.errors]
    else:
        faults = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        detail = "the form is not valid"
    web = getattr(request.state, "web", None)
    actor = web.actor() if web is not None and web.role is not None else None
    response = render(request, "error.html", status=status, actor=actor, status_code=status, detail=detail,
                      faults=faults[:10])
    if isinstance(exc, ServiceError) and exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, exc.retry_after))
    return response
