"""People: numbers, roles, CSV import, PINs, consent, erasure with a tombstone."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from server.auth.roles import Role
from server.core.database import Database
from server.presence.tables import Event
from tests.server.conftest import Kiosk, Person
from tests.server.events import event, push


def test_create_and_read_a_student(client: TestClient, admin: Person) -> None:
    created = client.post("/api/v1/people", json={"number": "2201234567", "name": "Siti Rahma"},
                          headers=admin.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["kind"] == "student" and body["roles"] == ["student"] and body["created_at"].endswith("Z")
    assert client.get(f"/api/v1/people/{body['id']}", headers=admin.headers).json()["number"] == "2201234567"
    found = client.get("/api/v1/people", params={"q": "siti"}, headers=admin.headers).json()
    assert [p["number"] for p in found["items"]] == ["2201234567"] and found["total"] == 1


def test_a_number_is_unique(client: TestClient, admin: Person) -> None:
    person = {"number": "2201234567", "name": "Siti"}
    assert client.post("/api/v1/people", json=person, headers=admin.headers).status_code == 201
    again = client.post("/api/v1/people", json={**person, "name": "Other"}, headers=admin.headers)
    assert again.status_code == 409 and "2201234567" in again.json()["detail"]


def test_only_an_admin_grants_admin(client: TestClient, make_person: Callable[..., Person]) -> None:
    head = make_person(Role.HEAD)
    response = client.post("/api/v1/people", json={"number": "1980000009", "name": "X", "kind": "staff",
                                                    "roles": ["admin"]}, headers=head.headers)
    assert response.status_code == 403 and "admin" in response.json()["detail"]


def test_csv_import_creates_and_updates(client: TestClient, admin: Person) -> None:
    text = "number,name,kind,roles\n2201000001,Ani,student,\n2201000002,Budi,student,student;assistant\n" \
           "198001012005011001,Dr. Citra,staff,lecturer\n"
    files = {"file": ("people.csv", text.encode(), "text/csv")}
    dry = client.post("/api/v1/people:import", params={"dry_run": True}, files=files, headers=admin.headers)
    assert dry.json() == {"created": 3, "updated": 0, "unchanged": 0, "dry_run": True}
    assert client.get("/api/v1/people", headers=admin.headers).json()["total"] == 1  # only the admin
    done = client.post("/api/v1/people:import", files=files, headers=admin.headers).json()
    assert done == {"created": 3, "updated": 0, "unchanged": 0, "dry_run": False}
    changed = text.replace("Ani", "Ani Lestari")
    again = client.post("/api/v1/people:import", files={"file": ("p.csv", changed.encode(), "text/csv")},
                        headers=admin.headers).json()
    assert again == {"created": 0, "updated": 1, "unchanged": 2, "dry_run": False}
    budi = client.get("/api/v1/people", params={"q": "budi"}, headers=admin.headers).json()["items"][0]
    assert budi["roles"] == ["assistant", "student"]


def test_a_semicolon_csv_from_a_spreadsheet_is_read(client: TestClient, admin: Person) -> None:
    """Spreadsheets in Indonesian (and other comma-decimal locales) save CSV with semicolons."""
    text = "\ufeffnumber;name;kind;roles\r\n2201000001;Ani, S.Kom;student;\r\n" \
           "2201000002;Budi;student;student|assistant\r\n"
    done = client.post("/api/v1/people:import", files={"file": ("p.csv", text.encode(), "text/csv")},
                       headers=admin.headers)
    assert done.status_code == 200, done.text
    assert done.json()["created"] == 2
    people = client.get("/api/v1/people", params={"q": "2201"}, headers=admin.headers).json()["items"]
    assert [(p["name"], p["roles"]) for p in people] == [("Ani, S.Kom", ["student"]),
                                                         ("Budi", ["assistant", "student"])]


def test_a_bad_csv_row_refuses_the_whole_file_and_names_line_and_column(client: TestClient, admin: Person) -> None:
    text = "number,name,roles\n2201000001,Ani,\nnot a number!,Budi,\n2201000003,,student\n2201000004,Dewi,wizard\n"
    response = client.post("/api/v1/people:import", files={"file": ("p.csv", text.encode(), "text/csv")},
                           headers=admin.headers)
    assert response.status_code == 422
    faults = {(e["loc"][0], e["loc"][1]) for e in response.json()["errors"]}
    assert faults == {("line 3", "number"), ("line 4", "name"), ("line 5", "roles")}
    assert client.get("/api/v1/people", headers=admin.headers).json()["total"] == 1  # nothing was imported
    header = client.post("/api/v1/people:import", files={"file": ("p.csv", b"nim,nama\n1,x\n", "text/csv")},
                         headers=admin.headers)
    assert header.status_code == 422 and "missing number, name" in header.json()["detail"]


def test_pin_hash_is_the_contract_scrypt_format(client: TestClient, admin: Person, kiosk: Kiosk,
                                                 make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    assert client.put(f"/api/v1/people/{person.id}/pin", json={"pin": "4821"}, headers=admin.headers).status_code == 204
    assert client.put(f"/api/v1/people/{person.id}/pin", json={"pin": "12ab"}, headers=admin.headers).status_code == 422
    feed = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()
    stored = next(p["pin_hash"] for p in feed["people"] if p["number"] == person.number)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert scheme == "scrypt" and (n, r, p) == ("16384", "8", "1")
    again = hashlib.scrypt(b"4821", salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    assert base64.b64encode(again).decode() == digest  # a kiosk verifies with the standard library alone


def test_consent_is_recorded_and_listed(client: TestClient, admin: Person, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    url = f"/api/v1/people/{person.id}/consents"
    assert client.post(url, json={"purpose": "face_recognition", "granted": True, "note": "form 12"},
                       headers=admin.headers).status_code == 201
    withdrawn = client.post(url, json={"purpose": "face_recognition", "granted": False}, headers=admin.headers)
    assert withdrawn.status_code == 201
    listed = client.get(url, headers=admin.headers).json()
    assert [(c["granted"], c["note"]) for c in listed] == [(True, "form 12"), (False, "")]


def test_erasure_leaves_a_tombstone_that_reaches_kiosks(client: TestClient, admin: Person, kiosk: Kiosk,
                                                          database: Database,
                                                          make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, number="2201234567", login=False)
    push(client, kiosk, [event(1, person="2201234567"), event(2, person="2201234567")])
    first = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()
    client.post(f"/api/v1/devices/{kiosk.id}/changes:ack", json={"cursor": first["next_cursor"]}, headers=kiosk.headers)
    erased = client.delete(f"/api/v1/people/{person.id}", headers=admin.headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["events_anonymised"] == 2
    assert client.get(f"/api/v1/people/{person.id}", headers=admin.headers).status_code == 404
    with database.session() as session:
        assert session.scalars(select(Event.person_number)).all() == [None, None]  # kept for counts, unnamed
    pending = client.get("/api/v1/tombstones", headers=admin.headers).json()
    assert pending == [{"number": "2201234567", "erased_at": erased.json()["erased_at"], "devices_acknowledged": 0,
                        "devices_pending": 1}]
    feed = client.get(f"/api/v1/devices/{kiosk.id}/changes", params={"cursor": first["next_cursor"]},
                      headers=kiosk.headers).json()
    assert feed["tombstones"] == [{"number": "2201234567", "erased_at": erased.json()["erased_at"]}]
    client.post(f"/api/v1/devices/{kiosk.id}/changes:ack", json={"cursor": feed["next_cursor"]}, headers=kiosk.headers)
    assert client.get("/api/v1/tombstones", headers=admin.headers).json()[0]["devices_acknowledged"] == 1
    audit = client.get("/api/v1/audit", params={"action": "person.erase"}, headers=admin.headers).json()
    assert audit[0]["actor_id"] == admin.id and audit[0]["detail"]["number"] == "2201234567"


def test_admin_actions_are_audited(client: TestClient, admin: Person, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    client.patch(f"/api/v1/people/{person.id}", json={"name": "New Name"}, headers=admin.headers)
    client.post("/api/v1/devices", json={"name": "door", "room": "LAB-2"}, headers=admin.headers)
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=admin.headers).json()]
    assert actions[-2:] == ["person.update", "device.register"]
    entry = client.get("/api/v1/audit", params={"action": "person.update"}, headers=admin.headers).json()[0]
    assert entry["actor_role"] == "admin" and entry["target_id"] == person.id
    assert entry["detail"] == {"changed": ["name"]}
