"""The staff's reading pages: attendance reports and corrections, announcements, dead notifications,
the audit log. Each calls the service its API operation calls, for the same roles."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request, Response
from pydantic import ValidationError

from server.audit import service as audit
from server.auth.actor import Actor
from server.auth.roles import Role
from server.core.clock import EARLIEST, LabDay, utcnow
from server.core.dependencies import SessionDep, SettingsDep
from server.core.errors import Invalid, ServiceError
from server.core.problems import status_of
from server.notifications import announcements, claims, messages
from server.notifications.kinds import Status
from server.notifications.schemas import AnnouncementIn, AudienceIn
from server.people import service as people
from server.presence import attendance
from server.presence.router import day_range
from server.presence.schemas import CorrectionIn
from server.web.access import Checked, PageRoute, allowed, may
from server.web.rendering import render
from server.web.texts import clock

router = APIRouter(route_class=PageRoute, include_in_schema=False)

From = Annotated[LabDay | None, Query(alias="from")]
To = Annotated[LabDay | None, Query(alias="to")]
Number = Annotated[str, Query(max_length=40)]
SHOWN = 200  # rows of an attendance report per page; the CSV has them all
PAGE_DAYS = 7  # the report page's default window (the API's and the CSV's is 30 days)


def _person_id(session: SessionDep, number: str) -> str | None:
    if not number:
        return None
    found = people.by_number(session, number.strip())
    if found is None:
        raise Invalid(f"no person with number {number}", [(["query", "number"], "unknown number")])
    return found.id


def _attendance_page(request: Request, actor: Actor, session: SessionDep, settings: SettingsDep,
                     start: date | None, end: date | None, number: str, status: int = 200,
                     problem: str | None = None, notice: str | None = None, offset: int = 0) -> Response:
    last = end or utcnow().astimezone(settings.zone).date()
    first, last = day_range(settings, start or max(EARLIEST, last - timedelta(days=PAGE_DAYS - 1)), last)
    days = attendance.days(session, settings.zone, first, last, _person_id(session, number))
    return render(request, "admin_attendance.html", status=status, actor=actor, days=days[offset:offset + SHOWN],
                  total=len(days), offset=offset, shown=SHOWN, first=first, last=last,
                  number=number, with_person=True, clock=clock(settings.zone), problem=problem, notice=notice,
                  may_export=may(request, actor, "GET /attendance.csv"),
                  may_correct=may(request, actor, "POST /attendance/corrections"))


@router.get("/admin/attendance")
def attendance_page(request: Request, session: SessionDep, settings: SettingsDep,
                    actor: Annotated[Actor, allowed("GET /attendance")], start: From = None, end: To = None,
                    number: Number = "", offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    return _attendance_page(request, actor, session, settings, start, end, number, offset=offset)


@router.get("/admin/attendance.csv")
def attendance_csv(session: SessionDep, settings: SettingsDep, _: Annotated[Actor, allowed("GET /attendance.csv")],
                   start: From = None, end: To = None, number: Number = "") -> Response:
    first, last = day_range(settings, start, end)
    text = attendance.to_csv(attendance.days(session, settings.zone, first, last, _person_id(session, number)))
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="attendance-{first}-{last}.csv"'})


@router.post("/admin/attendance/corrections")
def correct_day(request: Request, _: Checked, session: SessionDep, settings: SettingsDep,
                actor: Annotated[Actor, allowed("POST /attendance/corrections")],
                number: Annotated[str, Form(max_length=40)] = "", day: Annotated[str, Form(max_length=10)] = "",
                present: Annotated[str, Form(max_length=1)] = "1",
                reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        person_id = _person_id(session, number) or ""
        data = CorrectionIn(person_id=person_id, day=day, present=present == "1", reason=reason)  # type: ignore[arg-type]
        attendance.correct(session, actor, settings.zone, data.person_id, data.day, data.present, data.reason)
    except ValidationError as exc:
        error = exc.errors()[0]
        return _attendance_page(request, actor, session, settings, None, None, "", 422,
                                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
    except ServiceError as exc:
        session.rollback()
        return _attendance_page(request, actor, session, settings, None, None, "", status_of(exc), exc.detail)
    return _attendance_page(request, actor, session, settings, data.day, data.day, number, notice="Saved.")


def _announcements_page(request: Request, actor: Actor, session: SessionDep, settings: SettingsDep,
                        status: int = 200, problem: str | None = None, notice: str | None = None) -> Response:
    rows, _total = announcements.visible(session, actor, True, 0, 50)
    return render(request, "admin_announcements.html", status=status, actor=actor, items=rows,
                  idempotency=uuid.uuid4().hex,  # a form sent twice (a double click, a retry) posts once
                  all_roles=[r.value for r in Role], clock=clock(settings.zone), problem=problem, notice=notice)


@router.get("/admin/announcements")
def announcements_page(request: Request, session: SessionDep, settings: SettingsDep,
                       actor: Annotated[Actor, allowed("POST /announcements")]) -> Response:
    return _announcements_page(request, actor, session, settings)


@router.post("/admin/announcements")
def announce(request: Request, _: Checked, session: SessionDep, settings: SettingsDep,
             actor: Annotated[Actor, allowed("POST /announcements")], title: Annotated[str, Form(max_length=200)] = "",
             body: Annotated[str, Form(max_length=10_000)] = "", everyone: Annotated[str, Form(max_length=1)] = "",
             roles: Annotated[list[str] | None, Form(max_length=6)] = None,
             idempotency: Annotated[str, Form(max_length=100)] = "") -> Response:
    try:
        data = AnnouncementIn(title=title, body=body, audience=AudienceIn(
            everyone=bool(everyone), roles=roles or []))  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        return _announcements_page(request, actor, session, settings, 422, str(error["msg"]))
    announcements.post(session, actor, data, idempotency or None)
    return _announcements_page(request, actor, session, settings, notice="Saved.")


def _dead_page(request: Request, actor: Actor, session: SessionDep, settings: SettingsDep,
               notice: str | None = None) -> Response:
    rows, total = messages.page(session, Status.DEAD, None, None, 0, 100)
    return render(request, "admin_notifications.html", actor=actor, items=rows, total=total,
                  clock=clock(settings.zone), notice=notice)


@router.get("/admin/notifications")
def dead_page(request: Request, session: SessionDep, settings: SettingsDep,
              actor: Annotated[Actor, allowed("GET /notifications/messages")]) -> Response:
    return _dead_page(request, actor, session, settings)


@router.post("/admin/notifications/{message_id}/resend")
def resend(request: Request, message_id: Annotated[str, Path(min_length=1, max_length=64)], _: Checked,
           session: SessionDep, settings: SettingsDep,
           actor: Annotated[Actor, allowed("POST /notifications/messages/{message_id}:resend")]) -> Response:
    claims.resend_by(session, actor, message_id)
    return _dead_page(request, actor, session, settings, notice="Saved.")


@router.get("/admin/audit")
def audit_page(request: Request, session: SessionDep, settings: SettingsDep,
               actor: Annotated[Actor, allowed("GET /audit")],
               after: Annotated[int, Query(ge=0, le=2**62)] = 0,
               action: Annotated[str, Query(max_length=48)] = "") -> Response:
    entries = audit.entries(session, after, 101, action or None)
    return render(request, "admin_audit.html", actor=actor, entries=entries[:100], more=len(entries) > 100,
                  action=action, clock=clock(settings.zone))
