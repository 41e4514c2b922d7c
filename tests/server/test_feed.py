"""The changes feed: people, templates of the device's model only, removals, tombstones, commands,
the QR key; cursors that page and acknowledgements; journal rows numbered in commit order, so a
kiosk that read past a position never misses a change committed late."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text

from server.auth.roles import Role
from server.core.clock import utcnow
from server.core.database import Database
from server.faces.tables import Template
from server.feed import journal
from server.feed.tables import FeedChange
from server.people.tables import Tombstone
from server.qr.signing import verify
from tests.server.conftest import Kiosk, Person


def _template(database: Database, person_id: str, model_id: str, vector: np.ndarray) -> str:
    with database.session() as session:
        row = Template(id=f"t-{model_id}-{person_id[:8]}", person_id=person_id, model_id=model_id,
                       vector=vector.astype("<f4").tobytes(), quality=0.99, source="photo", photo_path=None,
                       created_at=utcnow(), created_by=None)
        session.add(row)
        journal.note(session, "template", row.id)
        session.commit()
        return row.id


def test_feed_carries_people_and_only_the_devices_model(client: TestClient, kiosk: Kiosk, database: Database,
                                                         make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, Role.ASSISTANT, number="2201234567", name="Siti", login=False)
    vector = np.linspace(-1, 1, 512, dtype=np.float32)
    mine = _template(database, person.id, "test-model", vector)
    _template(database, person.id, "another-model", vector)
    feed = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()
    siti = next(p for p in feed["people"] if p["number"] == "2201234567")
    assert siti == {"id": person.id, "number": "2201234567", "name": "Siti", "roles": ["assistant", "student"],
                    "active": True, "pin_hash": None, "version": 1}
    assert [t["id"] for t in feed["templates"]] == [mine]
    decoded = np.frombuffer(base64.b64decode(feed["templates"][0]["vector"]), dtype="<f4")
    assert np.array_equal(decoded, vector) and feed["templates"][0]["number"] == "2201234567"
    assert feed["bookings"] == [] and feed["has_more"] is False
    assert len(base64.b64decode(feed["qr_public_key"])) == 32


def test_cursors_page_and_an_empty_page_keeps_the_cursor(client: TestClient, kiosk: Kiosk,
                                                          make_person: Callable[..., Person]) -> None:
    for _ in range(5):
        make_person(Role.STUDENT, login=False)
    seen, cursor, pages = [], None, 0
    while True:
        page = client.get(f"/api/v1/devices/{kiosk.id}/changes", params={"cursor": cursor, "limit": 2} if cursor
                          else {"limit": 2}, headers=kiosk.headers).json()
        pages += 1
        seen += [p["number"] for p in page["people"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert pages == 3 and len(seen) == 6  # the admin and five students
    last = client.get(f"/api/v1/devices/{kiosk.id}/changes", params={"cursor": cursor}, headers=kiosk.headers).json()
    assert last["next_cursor"] == cursor and last["people"] == []


def test_a_changed_person_appears_again_with_a_new_version(client: TestClient, admin: Person, kiosk: Kiosk,
                                                           make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    cursor = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()["next_cursor"]
    client.patch(f"/api/v1/people/{person.id}", json={"active": False}, headers=admin.headers)
    page = client.get(f"/api/v1/devices/{kiosk.id}/changes", params={"cursor": cursor}, headers=kiosk.headers).json()
    assert [(p["id"], p["active"], p["version"]) for p in page["people"]] == [(person.id, False, 2)]


def test_a_bad_cursor_is_a_400_naming_it(client: TestClient, kiosk: Kiosk) -> None:
    response = client.get(f"/api/v1/devices/{kiosk.id}/changes", params={"cursor": "yesterday"}, headers=kiosk.headers)
    assert response.status_code == 400 and "yesterday" in response.json()["detail"]
    beyond = client.post(f"/api/v1/devices/{kiosk.id}/changes:ack", json={"cursor": "c:999999"}, headers=kiosk.headers)
    assert beyond.status_code == 422 and "beyond" in beyond.json()["detail"]


def test_commands_repeat_until_acknowledged(client: TestClient, admin: Person, kiosk: Kiosk) -> None:
    command = client.post(f"/api/v1/devices/{kiosk.id}/commands", json={"kind": "resync"}, headers=admin.headers).json()
    for _ in range(2):
        feed = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()
        assert feed["commands"] == [{"id": command["id"], "kind": "resync", "args": {}}]
    url = f"/api/v1/devices/{kiosk.id}/commands/{command['id']}:ack"
    acked = client.post(url, json={"ok": True, "detail": "done"}, headers=kiosk.headers)
    assert acked.status_code == 200 and acked.json()["ok"] is True
    assert client.post(url, json={"ok": False}, headers=kiosk.headers).json() == acked.json()  # a repeat: same answer
    assert client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()["commands"] == []
    listed = client.get(f"/api/v1/devices/{kiosk.id}/commands", headers=admin.headers).json()
    assert listed[0]["detail"] == "done"
    missing = client.post(f"/api/v1/devices/{kiosk.id}/commands/nope:ack", json={"ok": True}, headers=kiosk.headers)
    assert missing.status_code == 404


def test_removed_templates_reach_the_kiosk(client: TestClient, admin: Person, kiosk: Kiosk, database: Database,
                                           make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    template = _template(database, person.id, "test-model", np.ones(512, dtype=np.float32) / np.sqrt(512))
    cursor = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()["next_cursor"]
    deleted = client.delete(f"/api/v1/people/{person.id}/templates/{template}", headers=admin.headers)
    assert deleted.status_code == 204
    page = client.get(f"/api/v1/devices/{kiosk.id}/changes", params={"cursor": cursor}, headers=kiosk.headers).json()
    assert page["removed_templates"] == [{"id": template}] and page["templates"] == []


def test_qr_tokens_verify_with_the_feeds_public_key(client: TestClient, admin: Person, kiosk: Kiosk,
                                                    make_person: Callable[..., Person]) -> None:
    student = make_person(Role.STUDENT)
    issued = client.post("/api/v1/me/qr-token", headers=student.headers).json()
    key = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()["qr_public_key"]
    prefix, payload, signature = issued["token"].split(".")
    assert prefix == "LG1"
    claims = verify(issued["token"], key)
    assert claims["number"] == student.number and claims["exp"] - claims["iat"] == 300
    assert claims["jti"] == issued["jti"]
    forged = f"LG1.{payload[:-2]}AA.{signature}"
    try:
        verify(forged, key)
        raise AssertionError("a changed payload must not verify")
    except ValueError as exc:
        assert "signature" in str(exc) or "malformed" in str(exc)
    try:
        verify(issued["token"], key, now=claims["exp"] + 1)
        raise AssertionError("an expired token must not verify")
    except ValueError as exc:
        assert "expired" in str(exc)
    for_other = client.post(f"/api/v1/people/{student.id}/qr-token", headers=admin.headers)
    assert for_other.status_code == 201
    assert client.get("/api/v1/audit", params={"action": "qr.issue"}, headers=admin.headers).json()[0]["target_id"] \
        == student.id


def _waiting_for_a_lock(database: Database) -> bool:
    with database.engine.connect() as connection:
        return bool(connection.scalar(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")))


def test_a_change_that_commits_late_still_reaches_a_kiosk_that_read_past_it(
        client: TestClient, kiosk: Kiosk, database: Database, make_person: Callable[..., Person]) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite lets one writer at a time, so two journal writers cannot interleave")
    url = f"/api/v1/devices/{kiosk.id}/changes"
    start = client.get(url, headers=kiosk.headers).json()["next_cursor"]
    with database.session() as slow:  # A: an erasure, written but not yet committed
        stone = Tombstone(number="2201999999", erased_at=utcnow(), erased_by=None)
        slow.add(stone)
        slow.flush()
        journal.note(slow, "tombstone", str(stone.id))
        slow.flush()
        fast = make_person(Role.STUDENT, login=False)  # B: another change, committed meanwhile
        page = client.get(url, params={"cursor": start}, headers=kiosk.headers).json()
        assert [p["id"] for p in page["people"]] == [fast.id] and page["tombstones"] == []
        slow.commit()
    after = client.get(url, params={"cursor": page["next_cursor"]}, headers=kiosk.headers).json()
    assert [t["number"] for t in after["tombstones"]] == ["2201999999"]  # the erasure is not skipped


def test_journal_rows_are_numbered_in_commit_order(database: Database, make_person: Callable[..., Person]) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite lets one writer at a time, so commit order is write order there")
    committed: list[str] = []
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            make_person(Role.STUDENT, number="2201888888", login=False)
            committed.append("person")
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=other_writer)

    def just_before_commit(_: object) -> None:  # this transaction's journal rows are written, COMMIT not yet sent
        writer.start()
        for _ in range(300):  # until the other writer committed, or waits for this one
            if committed or errors or _waiting_for_a_lock(database):
                break
            time.sleep(0.1)
        committed.append("tombstone")

    with database.session() as first:
        stone = Tombstone(number="2201999999", erased_at=utcnow(), erased_by=None)
        first.add(stone)
        first.flush()
        journal.note(first, "tombstone", str(stone.id))
        event.listen(first.connection(), "commit", just_before_commit)
        first.commit()
    writer.join(timeout=60)
    assert not errors and len(committed) == 2, (errors, committed)
    with database.session() as session:
        numbered = list(session.scalars(select(FeedChange.kind).where(FeedChange.kind.in_(["tombstone", "person"]))
                                        .order_by(FeedChange.seq)))
    assert numbered[-2:] == committed  # whoever commits first has the lower number


def test_a_rolled_back_change_leaves_no_journal_row(database: Database) -> None:
    with database.session() as session:
        journal.note(session, "person", "never-committed")
        session.rollback()
        session.commit()
        assert session.scalar(select(func.count()).where(FeedChange.ref == "never-committed")) == 0
