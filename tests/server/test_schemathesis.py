"""schemathesis against the OpenAPI document: every operation, signed in (admin, or the kiosk's device
token for the kiosk protocol), with ids of real rows, in positive and negative modes; no 5xx and no
response that breaks its schema (status, content type, headers, body).

Examples per operation and mode are bounded (SCHEMATHESIS_EXAMPLES, default 20: about 60 s per
backend) to fit the suite's budget; a one-off run with 100 or more finds more. Positive cases of the
event push must get events stored, not only refused: the Event schema carries the rules between fields.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.auth.roles import Role
from tests.server.conftest import Kiosk, Person, signed_in
from tests.server.recruitment.conftest import apply, png, transcript_pdf, vacancy_body
from tests.server.test_roles import EXPECTED

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@dataclass
class World:
    admin: Person
    kiosk: Kiosk
    person: Person
    command_id: str
    announcement_id: str
    message_id: str
    push_token: str
    recruitment: dict[str, str]  # path parameters: a vacancy, an application, ... as real rows
    student: dict[str, str]  # the applicant's headers (student-only operations)
    assistant: dict[str, str]  # the same person as assistant (assistant-only operations)
    room_id: str = ""
    booking_id: str = ""
    blackout_id: str = ""
    calendar_id: str = ""
    calendar_token: str = ""


@pytest.fixture
def world(client: TestClient, admin: Person, kiosk: Kiosk, make_person: Callable[..., Person]) -> World:
    person = make_person(Role.STUDENT, Role.ASSISTANT, login=False)
    command = client.post(f"/api/v1/devices/{kiosk.id}/commands", json={"kind": "resync"}, headers=admin.headers)
    client.post(f"/api/v1/people/{person.id}/consents", json={"purpose": "face_recognition", "granted": True},
                headers=admin.headers)  # so photo uploads get as far as the image checks
    client.put(f"/api/v1/people/{person.id}/contact", json={"email": "siti@example.ac.id"}, headers=admin.headers)
    announced = client.post("/api/v1/announcements", headers=admin.headers, json={
        "title": "Lab tutup", "body": "Perawatan AC.", "audience": {"people": [person.id, admin.id]}}).json()
    message = client.get("/api/v1/notifications/messages", headers=admin.headers).json()["items"][0]["id"]
    token = client.post("/api/v1/me/push-tokens", json={"token": "fcm-token-of-the-admins-phone"},
                        headers=admin.headers).json()
    assert token["token_end"] == "-phone"
    recruitment, student, assistant = _recruitment(client, admin, make_person)
    world = World(admin, kiosk, person, command.json()["id"], announced["id"], message, "fcm-token-of-the-admins-phone",
                  recruitment, student, assistant)
    room = client.post("/api/v1/rooms", json={"code": "LAB-1", "name": "Lab 1"}, headers=admin.headers).json()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    booked = client.post("/api/v1/bookings", headers=admin.headers, json={
        "room_id": room["id"], "title": "Praktikum", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat()}).json()
    blackout = client.post("/api/v1/blackouts", headers=admin.headers, json={
        "title": "Libur", "starts_at": (start + timedelta(days=30)).isoformat(),
        "ends_at": (start + timedelta(days=31)).isoformat()}).json()
    calendar = client.post("/api/v1/calendars", json={"room_id": room["id"]}, headers=admin.headers).json()
    world.room_id, world.booking_id = room["id"], booked["bookings"][0]["id"]
    world.blackout_id = blackout["blackout"]["id"]
    world.calendar_id, world.calendar_token = calendar["id"], calendar["url"].rsplit("/", 1)[1].removesuffix(".ics")
    return world


def _recruitment(client: TestClient, admin: Person,
                 make_person: Callable[..., Person]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """A vacancy with a pamphlet, an application accepted and activated, attendance and a certificate."""
    vacancy = client.post("/api/v1/recruitment/vacancies", json=vacancy_body(), headers=admin.headers).json()
    client.put(f"/api/v1/recruitment/vacancies/{vacancy['id']}/pamphlet", headers=admin.headers,
               files={"file": ("pamflet.png", png(), "image/png")})
    client.post(f"/api/v1/recruitment/vacancies/{vacancy['id']}:open", headers=admin.headers)
    applicant = make_person(Role.STUDENT, Role.ASSISTANT)
    applied = apply(client, vacancy["id"], applicant, transcript_pdf(0)[1])
    assert applied.status_code == 201, applied.text
    application = applied.json()["id"]
    client.post(f"/api/v1/recruitment/applications/{application}:accept", json={"reason": "baik"},
                headers=admin.headers)
    contract = client.post(f"/api/v1/recruitment/applications/{application}:activate", headers=admin.headers).json()
    assistant = signed_in(client, applicant.number, Role.ASSISTANT)
    row = client.post(f"/api/v1/recruitment/assistantships/{contract['id']}/attendance", headers=assistant,
                      data={"room": "LAB-1", "starts_at": "2026-11-30T01:00:00Z", "ends_at": "2026-11-30T03:00:00Z"},
                      files={"photo": ("hadir.png", png(seed=2), "image/png")}).json()
    certificate = client.post(f"/api/v1/recruitment/assistantships/{contract['id']}/certificate",
                              json={"signatory": "Kepala Lab"}, headers=admin.headers).json()
    ids = {"vacancy_id": vacancy["id"], "application_id": application, "assistantship_id": contract["id"],
           "attendance_id": row["id"], "number": certificate["number"], "kind": "transcript"}
    return ids, applicant.headers, assistant


def _fixed(path: str, method: str, world: World) -> tuple[dict[str, str], dict[str, str]]:
    """(path parameters, headers): real rows, and the credentials the operation takes."""
    protocol = EXPECTED[(method, path)] == "device"
    params: dict[str, str] = {}
    if "{device_id}" in path:
        params["device_id"] = world.kiosk.id
    if "{command_id}" in path:
        params["command_id"] = world.command_id
    if "{person_id}" in path and not (method == "DELETE" and path.endswith("{person_id}")):
        params["person_id"] = world.person.id
    if "{announcement_id}" in path:
        params["announcement_id"] = world.announcement_id
    if "{message_id}" in path:
        params["message_id"] = world.message_id
    if "{token}" in path:
        params["token"] = world.calendar_token if path.startswith("/api/v1/calendars/") else world.push_token
    for name in ("room_id", "booking_id", "blackout_id", "calendar_id"):
        if "{" + name + "}" in path:
            params[name] = getattr(world, name)
    params.update({name: value for name, value in world.recruitment.items() if f"{{{name}}}" in path})
    wanted = EXPECTED[(method, path)]
    if protocol:
        return params, world.kiosk.headers
    if wanted == {Role.STUDENT}:
        return params, world.student
    if wanted == {Role.ASSISTANT}:
        return params, world.assistant
    return params, world.admin.headers


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED), ids=[f"{m} {p}" for m, p in sorted(EXPECTED)])
def test_operation_conforms_to_the_openapi_document(app: FastAPI, world: World, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema[path][method]
    params, headers = _fixed(path, method, world)
    ingest_results: set[str] = set()
    now = {"positive": True}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=params or None)
        now["positive"] = mode is GenerationMode.POSITIVE

        @given(case=strategy)
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            if now["positive"] and path.endswith("/events:batch") and response.status_code == 200:
                ingest_results.update(r["status"] for r in response.json()["results"])

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, "positive cases must always be possible"  # nothing to negate
    if path.endswith("/events:batch"):  # the documented Event is one the server stores, not just one it refuses
        assert "accepted" in ingest_results, ingest_results
