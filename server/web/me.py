"""One's own pages (every role): attendance, the QR code for the door, contacts and notification
settings, announcements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import ValidationError

from server.core.clock import LabDay
from server.core.dependencies import SessionDep, SettingsDep
from server.core.errors import Invalid
from server.notifications import announcements, contacts
from server.notifications.kinds import Channel, Topic
from server.notifications.schemas import ContactIn
from server.presence import attendance
from server.presence.router import day_range
from server.qr import service as qr
from server.qr.router import SignerDep
from server.web import qrimage
from server.web.access import Acting, Checked, PageRoute
from server.web.rendering import render
from server.web.texts import clock

router = APIRouter(route_class=PageRoute, include_in_schema=False)

From = Annotated[LabDay | None, Query(alias="from")]
To = Annotated[LabDay | None, Query(alias="to")]


@router.get("/me/attendance")
def my_attendance(request: Request, actor: Acting, session: SessionDep, settings: SettingsDep, start: From = None,
                  end: To = None) -> Response:
    first, last = day_range(settings, start, end)
    days = attendance.days(session, settings.zone, first, last, actor.person_id)
    return render(request, "me_attendance.html", actor=actor, days=days, first=first, last=last, with_person=False,
                  clock=clock(settings.zone))


@router.get("/me/qr")
def my_qr_page(request: Request, actor: Acting) -> Response:
    return render(request, "me_qr.html", actor=actor, image=None)


@router.post("/me/qr")
def my_qr(request: Request, actor: Acting, _: Checked, session: SessionDep, settings: SettingsDep,
          signer: SignerDep) -> Response:
    """The same short-lived token as POST /api/v1/me/qr-token, drawn as a QR code."""
    issued, expires = qr.issue(session, signer, settings.qr_token_seconds, actor, actor.person_id)
    image, size = qrimage.data_uri(issued.token)
    values: dict[str, Any] = {"image": image, "size": size, "number": actor.number, "expires_iso": expires.isoformat(),
              "expires": clock(settings.zone)(expires)}
    if request.headers.get("hx-request"):
        return render(request, "_qr.html", actor=actor, **values)
    return render(request, "me_qr.html", actor=actor, **values)


@router.get("/announcements")
def my_announcements(request: Request, actor: Acting, session: SessionDep, settings: SettingsDep,
                     offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    rows, total = announcements.visible(session, actor, False, offset, 50)
    return render(request, "announcements.html", actor=actor, items=rows, total=total, clock=clock(settings.zone))


def _settings_page(request: Request, actor: Acting, session: SessionDep, status: int = 200,
                   problem: str | None = None, notice: str | None = None) -> Response:
    return render(request, "me_settings.html", status=status, actor=actor,
                  contact=contacts.contact(session, actor.person_id),
                  preferences=contacts.preferences(session, actor.person_id), problem=problem, notice=notice)


@router.get("/me/settings")
def my_settings(request: Request, actor: Acting, session: SessionDep) -> Response:
    return _settings_page(request, actor, session)


@router.post("/me/settings")
def save_my_settings(request: Request, actor: Acting, _: Checked, session: SessionDep,
                     email: Annotated[str, Form(max_length=254)] = "",
                     whatsapp: Annotated[str, Form(max_length=40)] = "",
                     language: Annotated[str, Form(max_length=2)] = "id",
                     pref: Annotated[list[str] | None, Form(max_length=40)] = None) -> Response:
    """The same rules as PUT /api/v1/me/contact and PUT /api/v1/me/notification-preferences."""
    wanted: dict[Topic, list[Channel]] = {topic: [] for topic in Topic}
    try:
        for item in pref or []:
            topic, _sep, channel = item.partition(":")
            wanted[Topic(topic)].append(Channel(channel))
        changes = ContactIn(email=email.strip() or None, whatsapp=whatsapp.strip() or None,
                            language=language).model_dump()  # type: ignore[arg-type]
        contacts.set_contact(session, actor.person_id, changes)
    except (ValueError, ValidationError) as exc:
        session.rollback()
        return _settings_page(request, actor, session, 422, problem=str(exc).splitlines()[0])
    except Invalid as exc:
        session.rollback()
        return _settings_page(request, actor, session, 422, problem=exc.detail)
    contacts.set_preferences(session, actor.person_id, wanted)
    request.state.lang = language
    return _settings_page(request, actor, session, notice="Saved.")
