"""Attendance per day (the lab's calendar) and per person, corrections with a reason, CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from fastapi.testclient import TestClient

from server.auth.roles import Role
from tests.server.conftest import Kiosk, Person
from tests.server.events import event, push


def test_days_follow_the_labs_time_zone(client: TestClient, admin: Person, kiosk: Kiosk,
                                        make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, number="2201234567", login=False)
    push(client, kiosk, [
        event(1, captured_at="2026-11-21T23:30:00.000Z"),  # 06:30 on the 22nd in Jakarta
        event(2, captured_at="2026-11-22T09:00:00.000Z", clock_suspect=True),
        event(3, person=None),  # an unknown face is not attendance
        event(4, person="2201234567", method="pin", score=None, margin=None, model_id=None,
              captured_at="2026-11-23T01:00:00.000Z"),
    ])
    rows = client.get("/api/v1/attendance", params={"from": "2026-11-21", "to": "2026-11-23"},
                      headers=admin.headers).json()
    assert [(r["day"], r["events"], r["present"]) for r in rows] == [("2026-11-22", 2, True), ("2026-11-23", 1, True)]
    first = rows[0]
    assert first["person_id"] == person.id and first["first_seen"] == "2026-11-21T23:30:00.000Z"
    assert first["last_seen"] == "2026-11-22T09:00:00.000Z" and first["clock_suspect"] is True
    assert first["source"] == "kiosk"


def test_a_correction_needs_a_reason_overrides_and_is_audited(client: TestClient, admin: Person, kiosk: Kiosk,
                                                               make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    body = {"person_id": person.id, "day": "2026-11-20", "present": True}
    assert client.post("/api/v1/attendance/corrections", json=body, headers=admin.headers).status_code == 422
    done = client.post("/api/v1/attendance/corrections", json={**body, "reason": "camera broken; signed the sheet"},
                       headers=admin.headers)
    assert done.status_code == 201
    rows = client.get("/api/v1/attendance", params={"from": "2026-11-20", "to": "2026-11-20"},
                      headers=admin.headers).json()
    assert [(r["present"], r["source"], r["reason"]) for r in rows] == [(True, "correction",
                                                                          "camera broken; signed the sheet")]
    audit = client.get("/api/v1/audit", params={"action": "attendance.correct"}, headers=admin.headers).json()
    assert audit[0]["detail"]["reason"] == "camera broken; signed the sheet"
    future = client.post("/api/v1/attendance/corrections", json={**body, "day": "2099-01-01", "reason": "later"},
                         headers=admin.headers)
    assert future.status_code == 422 and "future" in future.json()["detail"]


def test_csv_export_has_the_rows_and_defuses_formulas(client: TestClient, admin: Person, kiosk: Kiosk,
                                                      make_person: Callable[..., Person]) -> None:
    make_person(Role.STUDENT, number="2201234567", name="=HYPERLINK(1)", login=False)
    push(client, kiosk, [event(1)])
    response = client.get("/api/v1/attendance.csv", params={"from": "2026-11-22", "to": "2026-11-22"},
                          headers=admin.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1 and rows[0]["number"] == "2201234567" and rows[0]["present"] == "yes"
    assert rows[0]["name"] == "'=HYPERLINK(1)"


def test_a_student_sees_their_own_attendance(client: TestClient, kiosk: Kiosk,
                                             make_person: Callable[..., Person]) -> None:
    student = make_person(Role.STUDENT, number="2201234567")
    make_person(Role.STUDENT, number="2201000002", login=False)
    push(client, kiosk, [event(1), event(2, person="2201000002")])
    mine = client.get("/api/v1/me/attendance", params={"from": "2026-11-22", "to": "2026-11-22"},
                      headers=student.headers).json()
    assert [r["number"] for r in mine] == ["2201234567"]


def test_a_range_is_checked(client: TestClient, admin: Person) -> None:
    backwards = client.get("/api/v1/attendance", params={"from": "2026-11-22", "to": "2026-11-01"},
                           headers=admin.headers)
    assert backwards.status_code == 422 and "before" in backwards.json()["detail"]
    too_long = client.get("/api/v1/attendance", params={"from": "2020-01-01", "to": "2026-01-01"},
                          headers=admin.headers)
    assert too_long.status_code == 422 and "366" in too_long.json()["detail"]


def test_days_and_times_out_of_range_are_a_422_naming_the_parameter(client: TestClient, admin: Person,
                                                                      kiosk: Kiosk) -> None:
    for path in ("/api/v1/attendance", "/api/v1/attendance.csv", "/api/v1/me/attendance"):
        for name, value, other in (("from", "0001-01-01", {"to": "0001-01-05"}), ("to", "9999-12-31", {}),
                                   ("from", "1999-12-31", {}), ("to", "2101-01-01", {"from": "2100-12-31"})):
            response = client.get(path, params={name: value, **other}, headers=admin.headers)
            assert response.status_code == 422, (path, name, value, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert f"query.{name}" in problem["detail"] and "2000-01-01" in problem["detail"], problem
            assert problem["errors"][0]["loc"] == ["query", name]
        edges = client.get(path, params={"from": "2100-01-01", "to": "2100-12-31"}, headers=admin.headers)
        assert edges.status_code == 200, (path, edges.text)
        early = client.get(path, params={"to": "2000-01-05"}, headers=admin.headers)  # from: kept in range
        assert early.status_code == 200, (path, early.text)
    for since in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00"):
        response = client.get("/api/v1/presence/events", params={"since": since}, headers=admin.headers)
        assert response.status_code == 422, (since, response.text)
        assert "query.since" in response.json()["detail"] and "2000-01-01" in response.json()["detail"]
    push(client, kiosk, [event(1)])
    listed = client.get("/api/v1/presence/events", params={"since": "2000-01-01T00:00:00+05:00"},
                        headers=admin.headers)
    assert listed.status_code == 200 and len(listed.json()) == 1


def test_a_correction_for_a_day_out_of_range_is_a_422(client: TestClient, admin: Person,
                                                       make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    response = client.post("/api/v1/attendance/corrections", headers=admin.headers,
                           json={"person_id": person.id, "day": "0001-01-01", "present": True, "reason": "old"})
    assert response.status_code == 422 and "body.day" in response.json()["detail"], response.text
    assert "2000-01-01" in response.json()["detail"]
