"""The bookings pages in a real Chromium against a real server: a lecturer's weekly series previewed with
its clash, booked and approved by the head from the queue; a student booking a seat from the week view
and cancelling it, with a calendar address that serves the bookings; refusals (role, CSRF); axe-core
and screenshots at phone and desktop width of every bookings page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth.actor import Actor
from server.auth.roles import Role
from server.bookings import service as bookings
from server.bookings.schemas import BookingIn, RoomIn, SeatIn
from server.bookings.tables import STATUSES
from server.core.database import Database
from server.core.settings import Settings
from server.people.schemas import Kind
from server.web import texts
from tests.web.conftest import Site, add_person, sign_in
from tests.web.test_pages import _photograph, _visit

pytestmark = pytest.mark.timeout(300)

LECTURER = "1970000010"


@dataclass(frozen=True)
class Rooms:
    lab: str  # needs approval: the lecturer's series waits for the head
    reading: str  # seats, no approval: students book a seat
    seat: str
    monday: date  # next week's Monday, lab time: every booking here is in the future
    seminar: datetime  # a confirmed booking in the lab on the second Tuesday, 09:00-10:00 (and Thursday 13:00)


@pytest.fixture(scope="session")
def rooms(site: Site) -> Rooms:
    """Rooms, a lecturer, and bookings already made (the admin's seminar, the other student's seat),
    written through the services into the served database."""
    database = Database(site.url)
    settings = Settings(database_url=site.url, argon2_memory_kib=1024, argon2_time_cost=1, argon2_parallelism=1)
    today = datetime.now(settings.zone).date()
    monday = today + timedelta(days=7 - today.weekday())
    add_person(site, LECTURER, "Pak Dosen", Kind.STAFF, (Role.LECTURER,), "en")
    with database.session() as session:
        lab = bookings.create_room(session, RoomIn(code="LAB-1", name="Practicum lab", needs_approval=True))
        reading = bookings.create_room(session, RoomIn(code="READ-1", name="Reading room"))
        seat = bookings.add_seat(session, reading.id, SeatIn(code="S-01", name="Window seat"))
        bookings.add_seat(session, reading.id, SeatIn(code="S-02", name="Corner seat"))
        admin = Actor(site.admin.id, site.admin.number, site.admin.name, Role.ADMIN.value, (Role.ADMIN.value,))
        seminar = datetime.combine(monday + timedelta(days=8), time(9), tzinfo=settings.zone)
        exam = datetime.combine(monday + timedelta(days=10), time(13), tzinfo=settings.zone)
        for title, start in (("Seminar", seminar), ("Ujian", exam)):
            bookings.book(session, settings, admin, BookingIn(room_id=lab.id, title=title, starts_at=start,
                                                              ends_at=start + timedelta(hours=1)))
        other = Actor(site.other.id, site.other.number, site.other.name, Role.STUDENT.value, (Role.STUDENT.value,))
        wednesday = datetime.combine(monday + timedelta(days=2), time(13), tzinfo=settings.zone)
        bookings.book(session, settings, other, BookingIn(room_id=reading.id, seat_id=seat.id, title="Budi's thesis",
                                                          starts_at=wednesday, ends_at=wednesday + timedelta(hours=1)))
        made = Rooms(lab.id, reading.id, seat.id, monday, seminar)
    database.dispose()
    return made


def act_as(page: Any, number: str, role: str) -> None:
    sign_in(page, number)
    page.get_by_label(role, exact=True).check()
    page.get_by_role("button", name="Continue").click()
    assert role in page.locator(".who").inner_text()


def sign_out(page: Any) -> None:
    page.locator(".signout button").click()
    page.wait_for_url("**/login")


def preview_series(page: Any, rooms: Rooms, title: str, weekday: int, start: str, end: str, weeks: int) -> None:
    page.goto("/bookings/series")
    page.get_by_label("Room").select_option(label="LAB-1 · Practicum lab")
    page.get_by_label("Title").fill(title)
    page.get_by_label("First day").fill((rooms.monday + timedelta(days=weekday)).isoformat())
    page.get_by_label("From").fill(start)
    page.get_by_label("To").fill(end)
    page.get_by_label("Number of weeks").fill(str(weeks))
    page.get_by_role("button", name="Check the dates").click()
    page.get_by_role("heading", name="Check before booking").wait_for()


def test_a_lecturer_sees_the_clash_before_booking_a_series_and_the_head_approves_it(
        page: Any, site: Site, rooms: Rooms) -> None:
    sign_in(page, LECTURER)
    preview_series(page, rooms, "Praktikum Jaringan", 1, "08:00", "10:00", 4)
    assert page.locator("ol.dates li").count() == 4
    clashing = page.locator("li.clash")
    assert clashing.count() == 1
    assert (rooms.monday + timedelta(days=8)).isoformat() in clashing.inner_text()
    assert "Seminar" in clashing.inner_text() and site.admin.number in clashing.inner_text()
    assert "approval by the head" in page.locator("#preview-title + p").inner_text()
    page.get_by_role("button", name="Book the free dates (3)").click()
    assert page.get_by_role("heading", name="3 dates booked").is_visible()
    skipped = page.locator("#made-title ~ ul").last.inner_text()
    assert skipped.startswith((rooms.monday + timedelta(days=8)).isoformat()), skipped
    page.goto("/bookings/mine")
    mine = page.get_by_role("row").filter(has_text="Praktikum Jaringan")
    assert mine.count() == 3 and all("pending" in mine.nth(i).inner_text() for i in range(3))
    sign_out(page)

    act_as(page, site.head.number, "head")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    request = page.locator("section.request").filter(has_text="Praktikum Jaringan")
    assert "Pak Dosen" in request.inner_text() and "3" in request.locator("dd").last.inner_text()
    request.get_by_role("button", name="Approve").click()
    assert page.get_by_role("status").inner_text() == "Approved."
    decided = page.locator("ul.decided li")
    assert decided.count() == 3 and all("confirmed" in decided.nth(i).inner_text() for i in range(3))
    assert page.locator("section.request").filter(has_text="Praktikum Jaringan").count() == 0
    sign_out(page)

    sign_in(page, LECTURER)
    page.goto("/bookings/mine")
    mine = page.get_by_role("row").filter(has_text="Praktikum Jaringan")
    assert mine.count() == 3 and all("confirmed" in mine.nth(i).inner_text() for i in range(3))
    page.goto(f"/bookings/rooms?room={rooms.lab}&week={rooms.monday + timedelta(days=7)}")
    tuesday = page.get_by_role("region", name=f"Tuesday {rooms.monday + timedelta(days=8)}")
    assert "Seminar" in tuesday.inner_text() and "Praktikum Jaringan" not in tuesday.inner_text()
    page.goto(f"/bookings/rooms?room={rooms.lab}&week={rooms.monday}")
    tuesday = page.get_by_role("region", name=f"Tuesday {rooms.monday + timedelta(days=1)}")
    assert "Praktikum Jaringan" in tuesday.inner_text() and "confirmed" in tuesday.inner_text()


def test_a_student_books_a_free_hour_of_a_seat_sees_it_booked_and_cancels_it(
        page: Any, site: Site, rooms: Rooms) -> None:
    wednesday = rooms.monday + timedelta(days=2)
    sign_in(page, site.student.number)  # reads the pages in Indonesian
    page.goto(f"/bookings?room={rooms.reading}&seat={rooms.seat}&week={rooms.monday}")
    day = page.get_by_role("region", name=f"Rabu {wednesday}")
    assert "13:00 terpesan" in day.inner_text(), "the other student's seat booking is shown as booked"
    assert "Budi" not in page.locator("main").inner_text() and site.other.number not in page.content()
    day.get_by_role("link", name=f"10:00 Rabu {wednesday} kosong").click()
    assert page.get_by_label("Hari", exact=True).input_value() == wednesday.isoformat()
    times = [page.get_by_label(label, exact=True).input_value() for label in ("Dari", "Sampai")]
    assert times == ["10:00", "11:00"]
    page.get_by_label("Judul").fill("Belajar statistik")
    page.get_by_role("button", name="Pesan", exact=True).click()
    assert page.get_by_role("status").inner_text() == "Sudah dipesan."
    row = page.get_by_role("row").filter(has_text="Belajar statistik")
    assert "dikonfirmasi" in row.inner_text() and "READ-1" in row.inner_text()

    page.goto(f"/bookings?room={rooms.reading}&seat={rooms.seat}&week={rooms.monday}")
    assert "10:00 terpesan" in page.get_by_role("region", name=f"Rabu {wednesday}").inner_text()

    page.goto(f"/bookings/rooms?room={rooms.reading}&week={rooms.monday}")
    day = page.get_by_role("region", name=f"Rabu {wednesday}").inner_text()
    assert "Belajar statistik" in day and "terpesan" in day, "one's own title, another's only as booked"
    assert "Budi" not in page.locator("main").inner_text() and site.other.name not in page.content()

    page.goto("/bookings/mine")
    page.get_by_role("button", name="Buat alamat kalender saya").click()
    feed = httpx.get(page.locator("#feed-url").inner_text())
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "Belajar statistik" in feed.text and "Budi" not in feed.text

    page.get_by_role("row").filter(has_text="Belajar statistik").get_by_role("button", name="Batalkan").click()
    assert page.get_by_role("status").inner_text() == "Dibatalkan."
    assert "dibatalkan" in page.get_by_role("row").filter(has_text="Belajar statistik").inner_text()
    page.goto(f"/bookings?room={rooms.reading}&seat={rooms.seat}&week={rooms.monday}")
    day = page.get_by_role("region", name=f"Rabu {wednesday}")
    assert day.get_by_role("link", name=f"10:00 Rabu {wednesday} kosong").count() == 1, "free again"


def test_a_student_may_not_open_the_approvals_or_no_shows_and_a_form_needs_its_csrf_token(
        page: Any, site: Site, rooms: Rooms) -> None:
    sign_in(page, site.student.number)
    nav = page.get_by_role("navigation", name="Utama")
    assert nav.get_by_role("link", name="Pesan ruang").is_visible()
    assert nav.get_by_role("link", name="Persetujuan pemesanan").count() == 0
    for path in ("/admin/approvals", "/admin/no-shows"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    wednesday = (rooms.monday + timedelta(days=2)).isoformat()
    form = {"room": rooms.reading, "seat": rooms.seat, "title": "sneaky", "day": wednesday, "start": "15:00",
            "end": "16:00"}
    for sent in ({}, {"csrf": "forged"}):
        answer = httpx.post(f"{site.base}/bookings", data={**form, **sent}, cookies=cookies)
        assert answer.status_code == 403 and "security token" in answer.text
    page.goto("/bookings/mine")
    assert "sneaky" not in page.locator("main").inner_text()
    sign_out(page)
    act_as(page, site.head.number, "head")
    head = {c["name"]: c["value"] for c in page.context.cookies()}
    answer = httpx.post(f"{site.base}/admin/approvals/any-id/approve", data={"reason": "x"}, cookies=head)
    assert answer.status_code == 403 and "security token" in answer.text


def test_odd_form_values_are_answered_with_the_form_again_never_a_crash(page: Any, site: Site, rooms: Rooms) -> None:
    sign_in(page, LECTURER)
    page.goto("/bookings/series")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    friday = (rooms.monday + timedelta(days=4)).isoformat()
    good = {"csrf": csrf, "room": rooms.lab, "title": "Praktikum", "day": friday, "start": "08:00", "end": "10:00",
            "weeks": "2"}
    for path, odd in (("/bookings/series", {"weeks": "\u00b2"}), ("/bookings/series", {"weeks": "31"}),
                      ("/bookings/series", {"day": "9999-12-31"}), ("/bookings/series", {"end": "07:00"}),
                      ("/bookings/series", {"room": "no-such-room"}), ("/bookings/series", {"participants": "0000"}),
                      ("/bookings", {"day": "9999-12-31"}), ("/bookings", {"start": "25:00"}),
                      ("/bookings", {"seat": "not-a-seat-of-it"}), ("/bookings", {"title": "   "})):
        answer = httpx.post(f"{site.base}{path}", data={**good, **odd}, cookies=cookies)
        assert answer.status_code in (404, 409, 422), (path, odd, answer.status_code)
        assert 'role="alert"' in answer.text and "<form" in answer.text, (path, odd)
    for path in ("/bookings/nope/cancel", "/admin/approvals/nope/approve"):
        answer = httpx.post(f"{site.base}{path}", data={"csrf": csrf}, cookies=cookies)
        assert answer.status_code in (403, 404), (path, answer.status_code)


PAGES = {
    "student": ["/bookings", "/bookings/mine", "/bookings/series", "/bookings/rooms"],
    "head": ["/admin/approvals", "/admin/no-shows", "/bookings/rooms"],
}


def test_every_bookings_page_passes_axe_and_is_photographed_at_phone_and_desktop_width(
        page: Any, site: Site, rooms: Rooms, artifacts_dir: Path) -> None:
    found: dict[str, Any] = {}
    sign_in(page, LECTURER)
    preview_series(page, rooms, "Praktikum Basis Data", 3, "13:00", "15:00", 3)
    assert "Ujian" in page.locator("li.clash").inner_text()
    _photograph(page, "lecturer_bookings_series_preview", artifacts_dir, found)
    page.get_by_role("button", name="Book the free dates (2)").click()
    _photograph(page, "lecturer_bookings_series_booked", artifacts_dir, found)
    page.goto(f"/bookings/rooms?room={rooms.lab}&week={rooms.monday}")
    _photograph(page, "lecturer_bookings_rooms", artifacts_dir, found)
    sign_out(page)
    sign_in(page, site.student.number)
    for path in PAGES["student"]:
        _visit(page, site, "student", path, artifacts_dir, found)
    page.goto(f"/bookings?room={rooms.reading}&seat={rooms.seat}&week={rooms.monday}")
    _photograph(page, "student_bookings_seat_week", artifacts_dir, found)
    page.goto("/bookings/mine")
    page.get_by_role("button", name="Buat alamat kalender saya").click()
    _photograph(page, "student_bookings_calendar_address", artifacts_dir, found)
    sign_out(page)
    act_as(page, site.head.number, "head")
    for path in PAGES["head"]:
        _visit(page, site, "head", path, artifacts_dir, found)
    page.goto("/admin/approvals")
    assert "Praktikum Basis Data" in page.locator("section.request").filter(has_text="Pak Dosen").first.inner_text()
    assert not found, found
    names = [f"{who}{path.replace('/', '_')}" for who, paths in PAGES.items() for path in paths]
    names += ["lecturer_bookings_series_preview", "lecturer_bookings_series_booked", "lecturer_bookings_rooms",
              "student_bookings_seat_week", "student_bookings_calendar_address"]
    shots = [f"{n}-{w}.png" for n in names for w in ("phone", "desktop")]
    assert [s for s in shots if not (artifacts_dir / s).is_file()] == []


def test_every_booking_state_and_weekday_has_its_indonesian() -> None:
    words = {"checked_in": "checked in"}
    for status in STATUSES:
        assert words.get(status, status) in texts.INDONESIAN
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        assert day in texts.INDONESIAN
