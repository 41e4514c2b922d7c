"""The role-by-endpoint matrix: each role gets exactly the endpoints it should, the others 403.

The table below is written out by hand (what the lab wants); the test checks the running server
against it, and that no endpoint exists that the table does not list.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.auth.roles import Role
from server.core.openapi import operations, policy
from tests.server.conftest import Kiosk, Person

A, H, T, L, S, ST = Role.ADMIN, Role.HEAD, Role.TECHNICIAN, Role.LECTURER, Role.ASSISTANT, Role.STUDENT
EVERYONE = {A, H, T, L, S, ST}
PUBLIC: set[Role] = set()
DEVICE = "device"
BOOKERS = {A, H, L, S, ST}  # a technician looks after kiosks, not the timetable
SIGNED = "signed"  # no login: a credential of its own (WhatsApp's webhook: Meta's signature, the verify token)

EXPECTED: dict[tuple[str, str], set[Role] | str] = {
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/api/v1/me"): EVERYONE,
    ("PUT", "/api/v1/me/password"): EVERYONE,
    ("GET", "/api/v1/me/attendance"): EVERYONE,
    ("POST", "/api/v1/me/qr-token"): EVERYONE,
    ("GET", "/api/v1/people"): {A, H, T, L},
    ("POST", "/api/v1/people"): {A, H},
    ("POST", "/api/v1/people:import"): {A, H},
    ("GET", "/api/v1/people/{person_id}"): {A, H, T, L},
    ("PATCH", "/api/v1/people/{person_id}"): {A, H},
    ("DELETE", "/api/v1/people/{person_id}"): {A, H},
    ("PUT", "/api/v1/people/{person_id}/password"): {A},
    ("DELETE", "/api/v1/people/{person_id}/sessions"): {A},
    ("DELETE", "/api/v1/people/{person_id}/login-limits"): {A},
    ("PUT", "/api/v1/people/{person_id}/pin"): {A, H, T},
    ("GET", "/api/v1/people/{person_id}/consents"): {A, H, T},
    ("POST", "/api/v1/people/{person_id}/consents"): {A, H, T},
    ("POST", "/api/v1/people/{person_id}/qr-token"): {A, H, T},
    ("POST", "/api/v1/people/{person_id}/photos"): {A, H, T},
    ("GET", "/api/v1/people/{person_id}/templates"): {A, H, T},
    ("DELETE", "/api/v1/people/{person_id}/templates/{template_id}"): {A, H, T},
    ("POST", "/api/v1/faces:identify"): {A, H, T},
    ("GET", "/api/v1/tombstones"): {A, H},
    ("GET", "/api/v1/devices"): {A, H, T},
    ("POST", "/api/v1/devices"): {A},
    ("GET", "/api/v1/devices/{device_id}"): {A, H, T},
    ("PATCH", "/api/v1/devices/{device_id}"): {A},
    ("POST", "/api/v1/devices/{device_id}:revoke"): {A},
    ("POST", "/api/v1/devices/{device_id}:rotate-token"): {A},
    ("POST", "/api/v1/devices/{device_id}:activate"): PUBLIC,  # the provisioning token is the credential
    ("GET", "/api/v1/devices/{device_id}/commands"): {A, H, T},
    ("POST", "/api/v1/devices/{device_id}/commands"): {A, T},
    ("POST", "/api/v1/devices/{device_id}/events:batch"): DEVICE,
    ("GET", "/api/v1/devices/{device_id}/changes"): DEVICE,
    ("POST", "/api/v1/devices/{device_id}/changes:ack"): DEVICE,
    ("POST", "/api/v1/devices/{device_id}/commands/{command_id}:ack"): DEVICE,
    ("GET", "/api/v1/attendance"): {A, H, L, S},
    ("GET", "/api/v1/attendance.csv"): {A, H, L},
    ("POST", "/api/v1/attendance/corrections"): {A, H},
    ("GET", "/api/v1/presence/events"): {A, H, T},
    ("GET", "/api/v1/audit"): {A, H},
    ("GET", "/api/v1/me/contact"): EVERYONE,
    ("PUT", "/api/v1/me/contact"): EVERYONE,
    ("GET", "/api/v1/me/push-tokens"): EVERYONE,
    ("POST", "/api/v1/me/push-tokens"): EVERYONE,
    ("DELETE", "/api/v1/me/push-tokens/{token}"): EVERYONE,
    ("GET", "/api/v1/me/notification-preferences"): EVERYONE,
    ("PUT", "/api/v1/me/notification-preferences"): EVERYONE,
    ("GET", "/api/v1/people/{person_id}/contact"): {A},  # contacts: the person and admins only
    ("PUT", "/api/v1/people/{person_id}/contact"): {A},
    ("GET", "/api/v1/notifications/messages"): {A},
    ("GET", "/api/v1/notifications/messages/{message_id}"): {A},
    ("POST", "/api/v1/notifications/messages/{message_id}:resend"): {A},
    ("POST", "/api/v1/announcements"): {A, H},
    ("GET", "/api/v1/announcements"): EVERYONE,
    ("GET", "/api/v1/announcements/{announcement_id}"): EVERYONE,
    ("GET", "/api/v1/notifications/whatsapp/webhook"): SIGNED,
    ("POST", "/api/v1/notifications/whatsapp/webhook"): SIGNED,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/api/v1/rooms"): {A, H},
    ("GET", "/api/v1/rooms"): EVERYONE,
    ("GET", "/api/v1/rooms/{room_id}"): EVERYONE,
    ("PATCH", "/api/v1/rooms/{room_id}"): {A, H},
    ("POST", "/api/v1/rooms/{room_id}/seats"): {A, H},
    ("GET", "/api/v1/rooms/{room_id}/availability"): EVERYONE,
    ("POST", "/api/v1/bookings"): BOOKERS,
    ("GET", "/api/v1/bookings"): EVERYONE,
    ("GET", "/api/v1/bookings/no-shows"): {A, H},
    ("GET", "/api/v1/bookings/report.csv"): {A, H},
    ("GET", "/api/v1/bookings/{booking_id}"): EVERYONE,
    ("PATCH", "/api/v1/bookings/{booking_id}"): BOOKERS,
    ("POST", "/api/v1/bookings/{booking_id}:cancel"): BOOKERS,
    ("POST", "/api/v1/bookings/{booking_id}:approve"): {A, H},
    ("POST", "/api/v1/bookings/{booking_id}:reject"): {A, H},
    ("POST", "/api/v1/bookings/{booking_id}:check-in"): EVERYONE,
    ("POST", "/api/v1/bookings:release-due"): {A, H},
    ("POST", "/api/v1/blackouts"): {A, H},
    ("GET", "/api/v1/blackouts"): EVERYONE,
    ("DELETE", "/api/v1/blackouts/{blackout_id}"): {A, H},
    ("POST", "/api/v1/calendars"): EVERYONE,
    ("DELETE", "/api/v1/calendars/{calendar_id}"): EVERYONE,
    ("GET", "/api/v1/calendars/{token}.ics"): PUBLIC,  # the secret URL is the credential
    ("GET", "/api/v1/recruitment/vacancies"): EVERYONE,  # drafts only to those who run them
    ("POST", "/api/v1/recruitment/vacancies"): {A, H, L},
    ("GET", "/api/v1/recruitment/vacancies/{vacancy_id}"): EVERYONE,
    ("POST", "/api/v1/recruitment/vacancies/{vacancy_id}:open"): {A, H, L},  # lecturers: their own vacancies
    ("POST", "/api/v1/recruitment/vacancies/{vacancy_id}:close"): {A, H, L},
    ("PUT", "/api/v1/recruitment/vacancies/{vacancy_id}/pamphlet"): {A, H, L},
    ("GET", "/api/v1/recruitment/vacancies/{vacancy_id}/pamphlet"): EVERYONE,
    ("POST", "/api/v1/recruitment/vacancies/{vacancy_id}/applications"): {ST},
    ("GET", "/api/v1/recruitment/vacancies/{vacancy_id}/applications"): {A, H, L},
    ("GET", "/api/v1/recruitment/vacancies/{vacancy_id}/attendance.csv"): {A, H, L},
    ("GET", "/api/v1/me/applications"): EVERYONE,
    ("GET", "/api/v1/recruitment/applications/{application_id}"): EVERYONE,  # the applicant and the runners
    ("GET", "/api/v1/recruitment/applications/{application_id}/documents/{kind}"): EVERYONE,  # the same
    ("POST", "/api/v1/recruitment/applications/{application_id}:withdraw"): {ST},  # the applicant
    ("POST", "/api/v1/recruitment/applications/{application_id}:review"): {A, H, L},
    ("POST", "/api/v1/recruitment/applications/{application_id}:accept"): {A, H, L},
    ("POST", "/api/v1/recruitment/applications/{application_id}:reject"): {A, H, L},
    ("POST", "/api/v1/recruitment/applications/{application_id}:activate"): {A},
    ("GET", "/api/v1/recruitment/assistantships"): {A, H, L, S},  # an assistant sees their own
    ("POST", "/api/v1/recruitment/assistantships/{assistantship_id}:end"): {A, H, L},
    ("POST", "/api/v1/recruitment/assistantships/{assistantship_id}/attendance"): {S},  # their own
    ("GET", "/api/v1/recruitment/assistantships/{assistantship_id}/attendance"): {A, H, L, S},
    ("POST", "/api/v1/recruitment/attendance/{attendance_id}:confirm"): {A, H, L},
    ("GET", "/api/v1/recruitment/attendance/{attendance_id}/photo"): {A, H, L, S},
    ("POST", "/api/v1/recruitment/assistantships/{assistantship_id}/certificate"): {A},
    ("GET", "/api/v1/recruitment/assistantships/{assistantship_id}/certificate"): EVERYONE,  # holder, runners
    ("GET", "/api/v1/recruitment/certificates/{number}"): PUBLIC,  # what a certificate's QR code opens
}

# Run destructive operations last, so the others see their targets intact.
LAST = ("DELETE", ":revoke", ":rotate-token", "/sessions", "/password", "/login-limits")


def _order(item: tuple[str, str]) -> tuple[int, str, str]:
    method, path = item
    return (any(m in method or path.endswith(m) for m in LAST), path, method)


def test_every_endpoint_is_in_the_table_and_declares_its_roles(app: FastAPI) -> None:
    found = {(method, path): route for method, path, route in operations(app) if method != "HEAD"}
    docs = {("GET", p) for p in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")}
    assert set(found) - docs == set(EXPECTED)
    for key, route in found.items():
        if key in docs:
            continue
        declared = policy(route)
        wanted = EXPECTED[key]
        assert declared == ([DEVICE] if wanted == DEVICE else [] if wanted == SIGNED else
                            sorted(str(r) for r in wanted)), key


def test_each_role_gets_exactly_its_endpoints(client: TestClient, make_person: Callable[..., Person],
                                              kiosk: Kiosk) -> None:
    people = {role: make_person(role) for role in Role}
    target = make_person(Role.STUDENT, login=False)
    command = client.post(f"/api/v1/devices/{kiosk.id}/commands", json={"kind": "resync"},
                          headers=people[A].headers).json()["id"]
    ids = {"person_id": target.id, "device_id": kiosk.id, "template_id": "no-such-template", "command_id": command,
           "token": "no-such-token", "message_id": "no-such-message", "announcement_id": "no-such-announcement",
           "room_id": "no-such-room", "booking_id": "no-such-booking", "blackout_id": "no-such-blackout",
           "calendar_id": "no-such-calendar",
           "vacancy_id": "no-such-vacancy", "application_id": "no-such-application", "kind": "transcript",
           "assistantship_id": "no-such-assistantship", "attendance_id": "no-such-attendance",
           "number": "LG-2026-00000000"}
    outcome: dict[tuple[str, str], dict[str, int]] = {}
    for method, path in sorted(EXPECTED, key=_order):
        url = path.format(**ids)
        callers: dict[str, dict[str, str]] = {"nobody": {}, DEVICE: kiosk.headers}
        callers.update({str(role): person.headers for role, person in people.items()})
        outcome[(method, path)] = {who: client.request(method, url, headers=headers).status_code
                                   for who, headers in callers.items()}
    wrong = []
    for key, statuses in outcome.items():
        wanted = EXPECTED[key]
        for who, status in statuses.items():
            if wanted == PUBLIC:
                ok = status not in (401, 403)
            elif wanted == SIGNED:
                ok = status in (401, 403)  # nobody here holds the signature
            elif who == "nobody":
                ok = status == 401
            elif wanted == DEVICE:
                ok = status not in (401, 403) if who == DEVICE else status == 403
            elif who == DEVICE:
                ok = status == 401  # a device token is not a user's access token
            else:
                ok = (status != 403 and status != 401) if Role(who) in wanted else status == 403
            if not ok:
                wrong.append(f"{key[0]} {key[1]} as {who}: {status}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", ["/api/v1/people", "/api/v1/audit"])
def test_a_forbidden_role_gets_a_problem_naming_the_allowed_roles(client: TestClient,
                                                                    make_person: Callable[..., Person],
                                                                    path: str) -> None:
    student = make_person(Role.STUDENT)
    response = client.get(path, headers=student.headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "student" in response.json()["detail"] and "admin" in response.json()["detail"]
