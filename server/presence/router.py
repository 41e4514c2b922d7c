"""The kiosks' event push, and attendance for people."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status

from server.auth.actor import Actor
from server.auth.dependencies import AnyRole, allow
from server.auth.roles import Role
from server.core.clock import EARLIEST, LabDay, LabTime, utcnow
from server.core.dependencies import SessionDep, SettingsDep
from server.core.settings import Settings
from server.devices.dependencies import DeviceAuth, DeviceId
from server.presence import attendance, ingest
from server.presence.schemas import (
    AttendanceDayOut,
    BatchOut,
    CorrectionIn,
    CorrectionOut,
    EventBatchIn,
    StoredEventOut,
)

router = APIRouter()

Reporters = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.LECTURER, Role.ASSISTANT))]
Exporters = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.LECTURER))]
Managers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD))]
Auditors = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.TECHNICIAN))]
From = Annotated[LabDay | None, Query(alias="from", description="first day (the lab's calendar), from 2000-01-01 to "
                                                                 "2100-12-31; default 30 days before 'to'")]
To = Annotated[LabDay | None, Query(alias="to", description="last day, included, up to 2100-12-31; default today")]
Since = Annotated[LabTime | None, Query(description="only events captured at or after this time, from 2000-01-01 to "
                                                   "2100-12-31 (without a zone: UTC)")]
PersonFilter = Annotated[str | None, Query(max_length=64, description="only this person (server id)")]


@router.post("/devices/{device_id}/events:batch", response_model=BatchOut, tags=["kiosk protocol"])
def push_events(device_id: DeviceId, body: EventBatchIn, device: DeviceAuth, session: SessionDep,
                idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=128,
                                                       pattern=r"^[!-~]+$",
                                                       description="a new UUID per batch; a replay gets the "
                                                                   "first reply")]) -> dict[str, object]:
    """Store a batch of kiosk events, each once by (device, event id), and say per event what happened:
    accepted, duplicate, conflict (the stored one kept) or rejected (with the reason). ``missing_seq``
    lists gaps in the device's sequence."""
    return ingest.ingest(session, device, idempotency_key, body.events)


def day_range(settings: Settings, start: date | None, end: date | None) -> tuple[date, date]:
    """The days asked for, by default the 30 days up to today in the lab's zone (also the pages')."""
    last = end or utcnow().astimezone(settings.zone).date()
    return (start or max(EARLIEST, last - timedelta(days=30))), last


def _out(day: attendance.Day) -> AttendanceDayOut:
    return AttendanceDayOut.model_validate(day, from_attributes=True)


@router.get("/attendance", response_model=list[AttendanceDayOut], tags=["attendance"])
def list_attendance(_: Reporters, session: SessionDep, settings: SettingsDep, start: From = None, end: To = None,
                    person_id: PersonFilter = None) -> list[AttendanceDayOut]:
    """Presence per day and per person: the first and last kiosk accept of the day, with corrections
    applied. Days are the lab's (LABGATE_TIMEZONE)."""
    first, last = day_range(settings, start, end)
    return [_out(d) for d in attendance.days(session, settings.zone, first, last, person_id)]


@router.get("/attendance.csv", tags=["attendance"], response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "day,number,name,present,first_seen,last_seen,events,source,reason,"
                                            "clock_suspect"}})
def export_attendance(_: Exporters, session: SessionDep, settings: SettingsDep, start: From = None, end: To = None,
                      person_id: PersonFilter = None) -> Response:
    """The same rows as GET /attendance, as a CSV file."""
    first, last = day_range(settings, start, end)
    text = attendance.to_csv(attendance.days(session, settings.zone, first, last, person_id))
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="attendance-{first}-{last}.csv"'})


@router.post("/attendance/corrections", response_model=CorrectionOut, status_code=status.HTTP_201_CREATED,
             tags=["attendance"])
def correct_attendance(body: CorrectionIn, actor: Managers, session: SessionDep,
                       settings: SettingsDep) -> CorrectionOut:
    """Mark a person present or absent on a day, with the reason; the newest correction of a day holds,
    and each is in the audit log."""
    correction = attendance.correct(session, actor, settings.zone, body.person_id, body.day, body.present,
                                    body.reason)
    return CorrectionOut.model_validate(correction, from_attributes=True)


@router.get("/me/attendance", response_model=list[AttendanceDayOut], tags=["attendance"])
def my_attendance(actor: AnyRole, session: SessionDep, settings: SettingsDep, start: From = None,
                  end: To = None) -> list[AttendanceDayOut]:
    """One's own attendance."""
    first, last = day_range(settings, start, end)
    return [_out(d) for d in attendance.days(session, settings.zone, first, last, actor.person_id)]


@router.get("/presence/events", response_model=list[StoredEventOut], tags=["attendance"])
def list_events(_: Auditors, session: SessionDep,
                device_id: Annotated[str | None, Query(max_length=64)] = None,
                number: Annotated[str | None, Query(max_length=40)] = None,
                unknown_numbers: Annotated[bool, Query(description="only events naming a number the server did "
                                                                   "not know when they arrived")] = False,
                since: Since = None,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[StoredEventOut]:
    """Kiosk events as received, newest first."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is taken as UTC
    rows = attendance.events(session, device_id, number, unknown_numbers, since, offset, limit)
    return [StoredEventOut(device_id=e.device_id, id=e.event_id, seq=e.seq, person=e.person_number,
                           number_known=e.number_known, outcome=e.outcome, method=e.method, score=e.score,
                           margin=e.margin, model_id=e.model_id, captured_at=e.captured_at,
                           clock_suspect=e.clock_suspect, received_at=e.received_at) for e in rows]
