"""Room bookings through the API, on SQLite and PostgreSQL: the overlap rule in the database, series
with blackouts and their iCalendar feed read by an independent parser, approval, check-in by a
kiosk's presence event and through the API, no-shows released, bad input named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.auth.roles import Role
from server.bookings import checkin, service
from server.bookings.tables import Booking
from server.core.database import Database
from server.core.ids import new_id
from server.notifications.tables import Message
from tests.server.conftest import Kiosk, Person
from tests.server.events import event

JAKARTA = ZoneInfo("Asia/Jakarta")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def next_weekday(weekday: int, tz: ZoneInfo = JAKARTA, after_days: int = 2) -> date:
    day = datetime.now(tz).date() + timedelta(days=after_days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def at(day: date, hour: int, minute: int = 0, tz: ZoneInfo = JAKARTA) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=tz).isoformat()


def make_room(client: TestClient, admin: Person, code: str = "LAB-1", **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/rooms", json={"code": code, "name": f"Room {code}", **extra},
                           headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


def book(client: TestClient, who: Person, room: dict[str, Any], start: str, end: str,
         **extra: Any) -> Any:
    return client.post("/api/v1/bookings", json={"room_id": room["id"], "title": "Study", "starts_at": start,
                                                 "ends_at": end, **extra}, headers=who.headers)


def test_overlapping_rows_are_refused_by_the_database_itself(client: TestClient, admin: Person,
                                                              database: Database) -> None:
    room = make_room(client, admin)
    day = next_weekday(0)
    first = book(client, admin, room, at(day, 9), at(day, 10))
    assert first.status_code == 201, first.text
    start = datetime.combine(day, time(9, 30), tzinfo=JAKARTA)
    with database.session() as session, pytest.raises(IntegrityError):  # straight SQL, no service in between
        session.add(Booking(id=new_id(), room_id=room["id"], seat_id=None, series_id=None, holder_id=admin.id,
                            title="sneaky", starts_at=start, ends_at=start + timedelta(hours=1),
                            blocked_until=start + timedelta(hours=1), status="confirmed", note="", feed_noted=False,
                            created_at=start, updated_at=start))
        session.commit()
    with database.session() as session:  # a pending or cancelled row holds no slot: allowed
        session.add(Booking(id=new_id(), room_id=room["id"], seat_id=None, series_id=None, holder_id=admin.id,
                            title="pending", starts_at=start, ends_at=start + timedelta(hours=1),
                            blocked_until=start + timedelta(hours=1), status="pending", note="", feed_noted=False,
                            created_at=start, updated_at=start))
        session.commit()
        assert service.overlapping_rows(session) == 0


def test_a_clash_is_409_naming_the_time_and_the_holder_only_to_staff(client: TestClient, admin: Person,
                                                                    make_person: Callable[..., Person]) -> None:
    room = make_room(client, admin)
    lecturer, student = make_person(Role.LECTURER), make_person(Role.STUDENT)
    day = next_weekday(1)
    assert book(client, lecturer, room, at(day, 9), at(day, 11)).status_code == 201
    clash = book(client, student, room, at(day, 10), at(day, 12))
    assert clash.status_code == 409, clash.text
    problem = clash.json()
    assert problem["clashes"][0]["starts_at"].startswith(f"{day.isoformat()}T02:00") and \
        problem["clashes"][0]["holder"] is None
    assert "to" in problem["detail"]
    staff = book(client, admin, room, at(day, 10), at(day, 12))
    assert staff.status_code == 409 and staff.json()["clashes"][0]["holder"] == lecturer.number
    assert book(client, student, room, at(day, 11), at(day, 12)).status_code == 201  # touching ends are fine


def test_seats_exclude_the_whole_room_and_the_reverse(client: TestClient, admin: Person) -> None:
    room = make_room(client, admin)
    seats = [client.post(f"/api/v1/rooms/{room['id']}/seats", json={"code": f"PC-{i}", "name": f"PC {i}"},
                         headers=admin.headers).json() for i in (1, 2)]
    day = next_weekday(2)
    assert book(client, admin, room, at(day, 9), at(day, 10), seat_id=seats[0]["id"]).status_code == 201
    assert book(client, admin, room, at(day, 9), at(day, 10), seat_id=seats[1]["id"]).status_code == 201
    assert book(client, admin, room, at(day, 9, 30), at(day, 10), seat_id=seats[0]["id"]).status_code == 409
    assert book(client, admin, room, at(day, 9, 30), at(day, 11)).status_code == 409  # whole room vs seats
    assert book(client, admin, room, at(day, 10), at(day, 11)).status_code == 201
    assert book(client, admin, room, at(day, 10, 30), at(day, 11), seat_id=seats[1]["id"]).status_code == 409


def test_buffer_keeps_a_gap_after_each_booking(client: TestClient, admin: Person) -> None:
    room = make_room(client, admin, buffer_minutes=15)
    day = next_weekday(3)
    assert book(client, admin, room, at(day, 9), at(day, 10)).status_code == 201
    assert book(client, admin, room, at(day, 10, 5), at(day, 11)).status_code == 409
    assert book(client, admin, room, at(day, 10, 15), at(day, 11)).status_code == 201


def _practicum(client: TestClient, lecturer: Person, room: dict[str, Any], first: date, tz: ZoneInfo,
               **extra: Any) -> Any:
    return client.post("/api/v1/bookings", json={
        "room_id": room["id"], "title": "Practicum Basis Data", "starts_at": at(first, 8, 0, tz),
        "ends_at": at(first, 10, 40, tz), "timezone": tz.key, "rrule": "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=32",
        **extra}, headers=lecturer.headers)


def test_weekly_practicum_with_two_holidays_gives_30_dates_and_its_calendar_agrees(
        client: TestClient, admin: Person, make_person: Callable[..., Person]) -> None:
    room = make_room(client, admin)
    lecturer = make_person(Role.LECTURER)
    first = next_weekday(1)  # a Tuesday
    holidays = [first + timedelta(weeks=3), first + timedelta(weeks=7, days=2)]  # a Tuesday and a Thursday
    for number, day in enumerate(holidays):
        made = client.post("/api/v1/blackouts", json={"title": f"holiday {number}", "starts_at": at(day, 0),
                                                      "ends_at": at(day + timedelta(days=1), 0)},
                           headers=admin.headers)
        assert made.status_code == 201, made.text
    refused = _practicum(client, lecturer, room, first, JAKARTA)
    assert refused.status_code == 409, refused.text
    assert sorted(datetime.fromisoformat(c["starts_at"]).astimezone(JAKARTA).date()
                  for c in refused.json()["clashes"]) == holidays
    made = _practicum(client, lecturer, room, first, JAKARTA, skip_clashes=True)
    assert made.status_code == 201, made.text
    body = made.json()
    assert len(body["bookings"]) == 30 and len(body["skipped"]) == 2
    assert {datetime.fromisoformat(s["starts_at"]).astimezone(JAKARTA).date() for s in body["skipped"]} == \
        set(holidays)
    starts = sorted(datetime.fromisoformat(b["starts_at"]) for b in body["bookings"])
    assert all(s.astimezone(JAKARTA).time() == time(8, 0) for s in starts)
    feed = client.post("/api/v1/calendars", json={"room_id": room["id"]}, headers=lecturer.headers)
    assert feed.status_code == 201, feed.text
    ics = client.get(feed.json()["url"])
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    parsed = icalendar.Calendar.from_ical(ics.content)
    expanded = recurring_ical_events.of(parsed).between(starts[0] - timedelta(days=1), starts[-1] + timedelta(days=1))
    assert sorted(e["DTSTART"].dt.astimezone(UTC) for e in expanded) == [s.astimezone(UTC) for s in starts]
    uids = {str(e["UID"]) for e in expanded}
    again = icalendar.Calendar.from_ical(client.get(feed.json()["url"]).content)
    assert {str(c["UID"]) for c in again.walk("VEVENT")} == uids  # stable UIDs
    cancelled = client.post(f"/api/v1/bookings/{body['bookings'][4]['id']}:cancel", json={},
                            headers=lecturer.headers)
    assert cancelled.status_code == 200, cancelled.text
    after = recurring_ical_events.of(icalendar.Calendar.from_ical(client.get(feed.json()["url"]).content)).between(
        starts[0] - timedelta(days=1), starts[-1] + timedelta(days=1))
    assert len(after) == 29 and starts[4] not in {e["DTSTART"].dt for e in after}
    assert client.delete(f"/api/v1/calendars/{feed.json()['id']}", headers=lecturer.headers).status_code == 204
    assert client.get(feed.json()["url"]).status_code == 404


def _next_transition(tz: ZoneInfo, after: datetime) -> datetime:
    moment = after
    offset = moment.astimezone(tz).utcoffset()
    while moment.astimezone(tz).utcoffset() == offset:
        moment += timedelta(days=1)
    return moment


def test_a_series_across_daylight_saving_keeps_its_wall_clock_times(client: TestClient, admin: Person,
                                                                     make_person: Callable[..., Person]) -> None:
    room = make_room(client, admin, max_ahead_days=730)
    lecturer = make_person(Role.LECTURER)
    change = _next_transition(AMSTERDAM, datetime.now(UTC) + timedelta(days=3)).astimezone(AMSTERDAM).date()
    first = max(change - timedelta(weeks=8), next_weekday(1, AMSTERDAM))
    first += timedelta(days=(1 - first.weekday()) % 7)
    made = _practicum(client, lecturer, room, first, AMSTERDAM)
    assert made.status_code == 201, made.text
    starts = [datetime.fromisoformat(b["starts_at"]) for b in made.json()["bookings"]]
    ends = [datetime.fromisoformat(b["ends_at"]) for b in made.json()["bookings"]]
    assert len(starts) == 32
    assert {s.astimezone(AMSTERDAM).time() for s in starts} == {time(8, 0)}
    assert {e.astimezone(AMSTERDAM).time() for e in ends} == {time(10, 40)}
    assert len({s.astimezone(AMSTERDAM).utcoffset() for s in starts}) == 2  # it did cross the change
    feed = client.post("/api/v1/calendars", json={"person": lecturer.number}, headers=lecturer.headers).json()
    expanded = recurring_ical_events.of(icalendar.Calendar.from_ical(client.get(feed["url"]).content)).between(
        starts[0] - timedelta(days=1), starts[-1] + timedelta(days=1))
    assert sorted(e["DTSTART"].dt.astimezone(UTC) for e in expanded) == sorted(s.astimezone(UTC) for s in starts)


def test_cancel_this_and_following_and_edit_the_series(client: TestClient, admin: Person,
                                                       make_person: Callable[..., Person]) -> None:
    room = make_room(client, admin)
    lecturer = make_person(Role.LECTURER)
    made = _practicum(client, lecturer, room, next_weekday(1), JAKARTA).json()["bookings"]
    renamed = client.patch(f"/api/v1/bookings/{made[0]['id']}?scope=series", json={"title": "Basis Data II"},
                           headers=lecturer.headers)
    assert renamed.status_code == 200 and len(renamed.json()["bookings"]) == 32
    moved = client.patch(f"/api/v1/bookings/{made[2]['id']}", headers=lecturer.headers, json={
        "starts_at": made[2]["starts_at"].replace("T01:00", "T03:00"),
        "ends_at": made[2]["ends_at"].replace("T03:40", "T05:40")})
    assert moved.status_code == 200, moved.text
    assert moved.json()["bookings"][0]["starts_at"].endswith("T03:00:00.000Z")
    cut = client.post(f"/api/v1/bookings/{made[20]['id']}:cancel?scope=following", json={"reason": "term ends"},
                      headers=lecturer.headers)
    assert cut.status_code == 200 and len(cut.json()["bookings"]) == 12
    other = make_person(Role.STUDENT)
    assert client.post(f"/api/v1/bookings/{made[0]['id']}:cancel", json={},
                       headers=other.headers).status_code == 403


def test_approving_one_of_two_overlapping_requests_rejects_the_other_and_tells_both(
        client: TestClient, admin: Person, make_person: Callable[..., Person], database: Database) -> None:
    room = make_room(client, admin, needs_approval=True)
    head = make_person(Role.HEAD)
    first, second = make_person(Role.STUDENT), make_person(Role.STUDENT)
    for person in (first, second):
        client.put("/api/v1/me/contact", json={"email": f"{person.number}@student.example.ac.id"},
                   headers=person.headers).raise_for_status()
    day = next_weekday(2)
    one = book(client, first, room, at(day, 9), at(day, 11))
    two = book(client, second, room, at(day, 10), at(day, 12))
    assert one.status_code == two.status_code == 201
    assert one.json()["bookings"][0]["status"] == two.json()["bookings"][0]["status"] == "pending"
    approved = client.post(f"/api/v1/bookings/{one.json()['bookings'][0]['id']}:approve", json={},
                           headers=head.headers)
    assert approved.status_code == 200, approved.text
    assert [b["status"] for b in approved.json()["bookings"]] == ["confirmed"]
    assert [b["id"] for b in approved.json()["rejected"]] == [two.json()["bookings"][0]["id"]]
    assert client.get(f"/api/v1/bookings/{two.json()['bookings'][0]['id']}",
                      headers=second.headers).json()["status"] == "rejected"
    with database.session() as session:
        sent = {(m.person_id, m.template) for m in session.scalars(select(Message))}
    assert (first.id, "booking_approved") in sent and (second.id, "booking_rejected") in sent


def test_a_request_over_a_confirmed_booking_is_refused_at_once_not_left_pending_forever(
        client: TestClient, admin: Person, make_person: Callable[..., Person]) -> None:
    room = make_room(client, admin, needs_approval=True)
    day = next_weekday(3)
    held = book(client, admin, room, at(day, 9), at(day, 11))
    assert held.json()["bookings"][0]["status"] == "confirmed"  # the head and admins need no approval
    student = make_person(Role.STUDENT)
    refused = book(client, student, room, at(day, 10), at(day, 12))
    assert refused.status_code == 409, refused.text
    assert [c["booking_id"] for c in refused.json()["clashes"]] == [held.json()["bookings"][0]["id"]]
    beside = book(client, student, room, at(day, 11), at(day, 12))
    assert beside.status_code == 201 and beside.json()["bookings"][0]["status"] == "pending"


def _reminders(database: Database, booking_id: str) -> dict[str, datetime]:
    with database.session() as session:
        return {m.person_id: m.next_attempt_at for m in session.scalars(
            select(Message).where(Message.notification_key == f"booking:{booking_id}:reminder",
                                  Message.status == "queued"))}


def test_reminders_come_at_the_lead_time_each_person_chose(client: TestClient, admin: Person, database: Database,
                                                           make_person: Callable[..., Person]) -> None:
    room = make_room(client, admin)
    holder, early, off, default = (make_person(Role.LECTURER), make_person(Role.STUDENT), make_person(Role.STUDENT),
                                   make_person(Role.STUDENT))
    for person in (holder, early, off, default):
        client.put("/api/v1/me/contact", json={"email": f"{person.number}@example.ac.id"},
                   headers=person.headers).raise_for_status()
    assert client.get("/api/v1/me/notification-preferences",
                      headers=default.headers).json()["booking_reminder_minutes"] == 30
    for person, minutes in ((early, 60), (off, 0)):
        chosen = client.put("/api/v1/me/notification-preferences", json={"booking_reminder_minutes": minutes},
                            headers=person.headers)
        assert chosen.status_code == 200 and chosen.json()["booking_reminder_minutes"] == minutes, chosen.text
        assert chosen.json()["bookings"] == ["email", "push", "whatsapp"]  # the channels stay as they were
    bad = client.put("/api/v1/me/notification-preferences", json={"booking_reminder_minutes": 45},
                     headers=early.headers)
    assert bad.status_code == 422 and "booking_reminder_minutes" in bad.text
    day = next_weekday(3)
    made = book(client, holder, room, at(day, 9), at(day, 10),
                participants=[early.number, off.number, default.number])
    assert made.status_code == 201, made.text
    booking_id = made.json()["bookings"][0]["id"]
    start = datetime.combine(day, time(9), tzinfo=JAKARTA)
    due = _reminders(database, booking_id)
    assert set(due) == {holder.id, early.id, default.id}  # who chose off gets none
    assert due[early.id] == start - timedelta(minutes=60)  # at 60 minutes before, and not at 30 as well
    assert due[holder.id] == due[default.id] == start - timedelta(minutes=30)  # the default stays 30

    later = datetime.combine(day, time(13), tzinfo=JAKARTA)  # an edit moves each reminder with the booking
    moved = client.patch(f"/api/v1/bookings/{booking_id}", headers=holder.headers,
                         json={"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=1)).isoformat()})
    assert moved.status_code == 200, moved.text
    due = _reminders(database, booking_id)
    assert due == {holder.id: later - timedelta(minutes=30), early.id: later - timedelta(minutes=60),
                   default.id: later - timedelta(minutes=30)}
    client.put("/api/v1/me/notification-preferences", json={"booking_reminder_minutes": 1440},
               headers=default.headers).raise_for_status()  # a new choice moves the waiting reminder...
    client.put("/api/v1/me/notification-preferences", json={"booking_reminder_minutes": 0},
               headers=holder.headers).raise_for_status()  # ...or drops it
    assert _reminders(database, booking_id) == {early.id: later - timedelta(minutes=60),
                                                default.id: later - timedelta(days=1)}
    assert client.post(f"/api/v1/bookings/{booking_id}:cancel", json={},
                       headers=holder.headers).status_code == 200
    assert _reminders(database, booking_id) == {}  # a cancelled booking's reminders are withdrawn, everyone's


def _device_room(client: TestClient, admin: Person, kiosk: Kiosk, **extra: Any) -> dict[str, Any]:
    return make_room(client, admin, code="LAB-1", **extra)  # the kiosk fixture stands at LAB-1's door


def test_a_presence_event_at_the_door_checks_the_holder_in(client: TestClient, admin: Person, kiosk: Kiosk,
                                                           make_person: Callable[..., Person]) -> None:
    room = _device_room(client, admin, kiosk)
    student = make_person(Role.STUDENT, number="2201000077")
    start = (datetime.now(UTC) + timedelta(minutes=5)).replace(second=0, microsecond=0)
    made = book(client, student, room, start.isoformat(), (start + timedelta(hours=1)).isoformat())
    assert made.status_code == 201, made.text
    booking = made.json()["bookings"][0]
    feed = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()
    shown = [b for b in feed["bookings"] if b["id"] == booking["id"]]
    assert shown and shown[0]["holder_number"] == student.number and shown[0]["holder"] == "Test Person"
    walked_in = event(1, person=student.number, captured_at=datetime.now(UTC).isoformat())
    pushed = client.post(f"/api/v1/devices/{kiosk.id}/events:batch", json={"events": [walked_in]},
                         headers={**kiosk.headers, "Idempotency-Key": new_id()})
    assert pushed.status_code == 200, pushed.text
    seen = client.get(f"/api/v1/bookings/{booking['id']}", headers=student.headers).json()
    assert seen["status"] == "checked_in" and seen["check_in_method"] == "face"


def test_a_no_show_is_released_after_the_grace_period_and_the_slot_is_free(
        client: TestClient, admin: Person, make_person: Callable[..., Person], database: Database) -> None:
    room = make_room(client, admin, auto_release_minutes=10)
    student = make_person(Role.STUDENT)
    client.put("/api/v1/me/contact", json={"email": "late@student.example.ac.id"},
               headers=student.headers).raise_for_status()
    start = (datetime.now(UTC) + timedelta(minutes=30)).replace(second=0, microsecond=0)
    made = book(client, student, room, start.isoformat(), (start + timedelta(hours=1)).isoformat())
    booking = made.json()["bookings"][0]
    with database.session() as session:
        assert checkin.pass_once(session, start + timedelta(minutes=9)).released == 0
        assert checkin.pass_once(session, start + timedelta(minutes=10)).released == 1
        assert checkin.pass_once(session, start + timedelta(minutes=11)).released == 0
    seen = client.get(f"/api/v1/bookings/{booking['id']}", headers=student.headers).json()
    assert seen["status"] == "released"
    again = book(client, admin, room, start.isoformat(), (start + timedelta(hours=1)).isoformat())
    assert again.status_code == 201, again.text
    shows = client.get("/api/v1/bookings/no-shows", headers=admin.headers).json()
    assert [(s["number"], s["no_shows"]) for s in shows if s["no_shows"]] == [(student.number, 1)]
    with database.session() as session:
        assert session.scalar(select(Message.id).where(Message.person_id == student.id,
                                                       Message.template == "booking_released"))
    report = client.get("/api/v1/bookings/report.csv", headers=admin.headers,
                        params={"from": (start - timedelta(days=1)).isoformat(),
                                "to": (start + timedelta(days=1)).isoformat()})
    assert report.status_code == 200 and report.text.splitlines()[0] == \
        "room,week,booked_hours,checked_in_hours,released"
    assert report.text.splitlines()[1].endswith(",1.00,0.00,1")


def test_check_in_through_the_api_is_marked_so(client: TestClient, admin: Person,
                                               make_person: Callable[..., Person]) -> None:
    room = make_room(client, admin)
    student = make_person(Role.STUDENT)
    start = (datetime.now(UTC) + timedelta(minutes=5)).replace(second=0, microsecond=0)
    booking = book(client, student, room, start.isoformat(), (start + timedelta(hours=1)).isoformat()).json()
    checked = client.post(f"/api/v1/bookings/{booking['bookings'][0]['id']}:check-in", headers=student.headers)
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "checked_in" and checked.json()["check_in_method"] == "api"


def test_a_blackout_lists_the_bookings_it_hits_and_cancels_them_only_when_asked(
        client: TestClient, admin: Person, make_person: Callable[..., Person]) -> None:
    room = make_room(client, admin)
    student = make_person(Role.STUDENT)
    day = next_weekday(4)
    booking = book(client, student, room, at(day, 9), at(day, 10)).json()["bookings"][0]
    body = {"title": "exam week", "starts_at": at(day, 0), "ends_at": at(day + timedelta(days=1), 0)}
    listed = client.post("/api/v1/blackouts", json=body, headers=admin.headers)
    assert listed.status_code == 201 and [b["id"] for b in listed.json()["hits"]] == [booking["id"]]
    assert listed.json()["cancelled"] == 0
    cancelled = client.post("/api/v1/blackouts", json={**body, "cancel_hits": True}, headers=admin.headers)
    assert cancelled.json()["cancelled"] == 1
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=student.headers).json()["status"] == "cancelled"


def test_rules_opening_hours_quota_and_what_an_admin_waives(client: TestClient, admin: Person,
                                                           make_person: Callable[..., Person]) -> None:
    hours = {d: ["07:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    room = make_room(client, admin, opening_hours=hours, max_minutes=600)
    student = make_person(Role.STUDENT)
    day = next_weekday(0)
    late = book(client, student, room, at(day, 16), at(day, 18))
    assert late.status_code == 422 and "opening hours" in late.text
    waived = book(client, admin, room, at(day, 16), at(day, 18))
    assert waived.status_code == 201 and waived.json()["waived"] == ["opening hours"]
    assert book(client, student, room, at(day + timedelta(days=1), 7), at(day + timedelta(days=1), 15)).status_code \
        == 201
    over = book(client, student, room, at(day + timedelta(days=2), 7), at(day + timedelta(days=2), 12))
    assert over.status_code == 422 and "hours a week" in over.text


@pytest.mark.parametrize(("change", "field"), [
    ({"ends_at": "START"}, "body"),
    ({"ends_at": "BEFORE"}, "body"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=XX;COUNT=3"}, "rrule"),
    ({"rrule": "FREQ=SECONDLY;COUNT=3"}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=TU"}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=200"}, "rrule"),  # past the room's 180 days
])
def test_bad_input_is_422_naming_the_field(client: TestClient, admin: Person, change: dict[str, str],
                                           field: str) -> None:
    room = make_room(client, admin)
    day = next_weekday(1)
    body = {"room_id": room["id"], "title": "x", "starts_at": at(day, 9), "ends_at": at(day, 10), **change}
    if body["ends_at"] == "START":
        body["ends_at"] = body["starts_at"]
    elif body["ends_at"] == "BEFORE":
        body["ends_at"] = at(day, 8)
    response = client.post("/api/v1/bookings", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    where = [".".join(str(p) for p in e.get("loc", e.get("location", []))) for e in problem.get("errors", [])]
    assert any(field in w for w in where) or field in str(problem), problem


def test_unknown_ids_and_bad_queries_are_4xx(client: TestClient, admin: Person) -> None:
    assert client.get("/api/v1/rooms/nope", headers=admin.headers).status_code == 404
    assert client.get("/api/v1/bookings/nope", headers=admin.headers).status_code == 404
    assert client.get("/api/v1/calendars/lgc_nothing-here.ics").status_code == 404
    assert client.get("/api/v1/bookings", params={"status": "bogus"}, headers=admin.headers).status_code == 422
    day = next_weekday(1)
    response = client.post("/api/v1/bookings", json={"room_id": "nope", "title": "x", "starts_at": at(day, 9),
                                                     "ends_at": at(day, 10)}, headers=admin.headers)
    assert response.status_code == 404


def test_the_feed_sends_todays_bookings_and_removes_a_cancelled_one(client: TestClient, admin: Person,
                                                                    kiosk: Kiosk, database: Database) -> None:
    room = _device_room(client, admin, kiosk)
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    far = start + timedelta(days=10)
    near = book(client, admin, room, start.isoformat(), (start + timedelta(hours=1)).isoformat()).json()
    later = book(client, admin, room, far.isoformat(), (far + timedelta(hours=1)).isoformat()).json()
    page = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()
    assert [b["id"] for b in page["bookings"]] == [near["bookings"][0]["id"]]
    client.post(f"/api/v1/bookings/{near['bookings'][0]['id']}:cancel", json={}, headers=admin.headers)
    page = client.get(f"/api/v1/devices/{kiosk.id}/changes", params={"cursor": page["next_cursor"]},
                      headers=kiosk.headers).json()
    assert page["bookings"] == [{"id": near["bookings"][0]["id"], "status": "cancelled", "removed": True}]
    with database.session() as session:  # nine days on, the job journals the later one as it comes into the window
        assert checkin.pass_once(session, far - timedelta(days=1)).noted == 1
        assert checkin.pass_once(session, far - timedelta(days=1)).noted == 0
    assert later["bookings"][0]["id"] not in [b["id"] for b in page["bookings"]]


def test_a_student_with_k_no_shows_this_term_needs_approval_in_such_a_room(
        client: TestClient, admin: Person, make_person: Callable[..., Person], database: Database) -> None:
    room = make_room(client, admin, no_show_limit=1)
    student = make_person(Role.STUDENT)
    start = (datetime.now(UTC) + timedelta(minutes=30)).replace(second=0, microsecond=0)
    first = book(client, student, room, start.isoformat(), (start + timedelta(hours=1)).isoformat())
    assert first.json()["bookings"][0]["status"] == "confirmed"
    with database.session() as session:
        assert checkin.pass_once(session, start + timedelta(minutes=10)).released == 1
    day = next_weekday(2)
    second = book(client, student, room, at(day, 9), at(day, 10))
    assert second.status_code == 201 and second.json()["bookings"][0]["status"] == "pending"
    lecturer = make_person(Role.LECTURER)
    assert book(client, lecturer, room, at(day, 11), at(day, 12)).json()["bookings"][0]["status"] == "confirmed"
