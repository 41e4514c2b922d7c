"""The idempotent event push: counted once, conflicts kept apart, bad events named, never a 500."""

from __future__ import annotations

import threading
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.core.database import Database
from server.devices.tables import Device
from server.presence import ingest
from server.presence.tables import Event, EventConflict
from tests.server.conftest import Kiosk, Person, activated
from tests.server.events import event, push


def _stored(database: Database, device_id: str) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).where(Event.device_id == device_id)) or 0


def test_replayed_batch_is_counted_once(client: TestClient, kiosk: Kiosk, database: Database) -> None:
    events = [event(seq) for seq in range(1, 51)]
    key = str(uuid.uuid4())
    first = push(client, kiosk, events, key)
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["results"]] == ["accepted"] * 50
    replay = push(client, kiosk, events, key)
    assert replay.json() == first.json()  # a replayed Idempotency-Key gets the first reply
    again = push(client, kiosk, events)  # the same events under a new key: each a duplicate
    assert {r["status"] for r in again.json()["results"]} == {"duplicate"}
    assert _stored(database, kiosk.id) == 50


def test_same_event_id_with_other_content_is_a_conflict(client: TestClient, kiosk: Kiosk, database: Database) -> None:
    original = event(1)
    assert push(client, kiosk, [original]).json()["results"][0]["status"] == "accepted"
    changed = {**original, "score": 0.9}
    result = push(client, kiosk, [changed]).json()["results"][0]
    assert result["status"] == "conflict" and "stored one is kept" in result["reason"]
    with database.session() as session:
        kept = session.scalar(select(Event.score).where(Event.event_id == original["id"]))
        logged = session.scalars(select(EventConflict)).all()
    assert kept == 0.7312
    assert len(logged) == 1 and logged[0].content["score"] == 0.9


def test_an_event_stored_under_another_device_is_not_stored_twice(client: TestClient, kiosk: Kiosk, admin: Person,
                                                                   database: Database) -> None:
    """A kiosk provisioned again as a new device (or pulled out, then pushing) sends old events again."""
    events = [event(seq) for seq in range(1, 4)]
    assert {r["status"] for r in push(client, kiosk, events).json()["results"]} == {"accepted"}
    registered = client.post("/api/v1/devices", json={"name": "door LAB-1 again", "room": "LAB-1",
                                                      "model_id": "test-model"}, headers=admin.headers)
    again = activated(client, registered.json())
    changed = {**events[2], "score": 0.1}
    results = push(client, again, [events[0], events[1], changed, event(4)]).json()["results"]
    assert [r["status"] for r in results] == ["duplicate", "duplicate", "conflict", "accepted"]
    assert kiosk.id in results[0]["reason"] and kiosk.id in results[2]["reason"]
    assert (_stored(database, kiosk.id), _stored(database, again.id)) == (3, 1)


def test_thousand_events_with_ten_malformed_store_990_and_name_the_10(client: TestClient, kiosk: Kiosk,
                                                                       database: Database) -> None:
    events = [event(seq) for seq in range(1, 1001)]
    faults = {
        10: ("seq", "not a number"), 50: ("outcome", "maybe"), 100: ("captured_at", "yesterday"),
        150: ("captured_at", "2026-11-22T08:15:02"),  # no zone
        200: ("id", "not-a-uuid"), 300: ("method", "retina"), 400: ("score", 7.5),
        500: ("person", "no spaces allowed"), 600: ("clock_suspect", "no"), 700: ("extra", 1),
    }
    for index, (field, value) in faults.items():
        events[index][field] = value
    response = push(client, kiosk, events)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    rejected = {i: r for i, r in enumerate(results) if r["status"] == "rejected"}
    assert set(rejected) == set(faults)
    for index, (field, _) in faults.items():
        assert field in rejected[index]["reason"], (field, rejected[index]["reason"])
        assert rejected[index]["id"] == (events[index]["id"] if field != "id" else "not-a-uuid")
    assert sum(r["status"] == "accepted" for r in results) == 990
    assert _stored(database, kiosk.id) == 990


def test_rule_breaking_events_are_rejected_with_the_rule(client: TestClient, kiosk: Kiosk) -> None:
    cases = [
        event(1, person=None, outcome="accept"),
        event(2, method="pin"),  # a PIN event carrying a face score
        event(3, score=None),
        event(4, person="2201234567", outcome="unknown"),
    ]
    results = push(client, kiosk, cases).json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4
    assert "person" in results[0]["reason"]
    assert "score" in results[1]["reason"] and "pin" in results[1]["reason"]
    assert "score" in results[2]["reason"]
    assert "unknown" in results[3]["reason"]


def test_a_spoof_event_is_stored_and_a_spoof_naming_a_person_is_rejected(client: TestClient, kiosk: Kiosk,
                                                                         database: Database) -> None:
    """The kiosk's liveness check logs a photo or screen held up as a face event with no person."""
    results = push(client, kiosk, [event(1, person=None, outcome="spoof", score=0.41, margin=0.29,
                                         model_id="pad-minifasnetv2-2.7.a5eb02e1+pad-minifasnetv1se-4.0.84ee1d37"),
                                   event(2, outcome="spoof")]).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert "spoof" in results[1]["reason"]
    with database.session() as session:
        assert session.scalars(select(Event.outcome).where(Event.device_id == kiosk.id)).all() == ["spoof"]


def test_gaps_in_the_sequence_are_reported(client: TestClient, kiosk: Kiosk, admin) -> None:  # type: ignore[no-untyped-def]
    reply = push(client, kiosk, [event(s) for s in (3, 4, 8, 12)]).json()
    assert reply["missing_seq"] == [[1, 2], [5, 7], [9, 11]]
    filled = push(client, kiosk, [event(s) for s in (1, 2, 5, 6, 7)]).json()
    assert filled["missing_seq"] == [[9, 11]]
    device = client.get(f"/api/v1/devices/{kiosk.id}", headers=admin.headers).json()
    assert device["missing_seq"] == [[9, 11]] and device["max_seq"] == 12 and device["events"] == 9


def test_unknown_numbers_are_stored_and_flagged(client: TestClient, kiosk: Kiosk, admin) -> None:  # type: ignore[no-untyped-def]
    assert push(client, kiosk, [event(1, person="9999999999")]).json()["results"][0]["status"] == "accepted"
    flagged = client.get("/api/v1/presence/events", params={"unknown_numbers": True}, headers=admin.headers).json()
    assert [e["person"] for e in flagged] == ["9999999999"]


def test_a_body_that_is_not_a_batch_is_a_4xx_problem(client: TestClient, kiosk: Kiosk) -> None:
    url = f"/api/v1/devices/{kiosk.id}/events:batch"
    headers = {**kiosk.headers, "Idempotency-Key": str(uuid.uuid4())}
    for body, where in (({"events": []}, "events"), ({"rows": []}, "events"), ([1, 2], "body"),
                        ({"events": [event(s) for s in range(1, 1002)]}, "events"), ({"events": 1}, "events")):
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert where in response.json()["detail"]
    broken = client.post(url, content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["errors"]
    missing_key = client.post(url, json={"events": [event(1)]}, headers=kiosk.headers)
    assert missing_key.status_code == 422 and "Idempotency-Key" in missing_key.json()["detail"]


def test_a_reused_key_with_another_batch_is_refused(client: TestClient, kiosk: Kiosk) -> None:
    key = str(uuid.uuid4())
    assert push(client, kiosk, [event(1)], key).status_code == 200
    response = push(client, kiosk, [event(2)], key)
    assert response.status_code == 422 and "already used" in response.json()["detail"]


def test_wrong_or_revoked_device_token_is_401(client: TestClient, kiosk: Kiosk, admin) -> None:  # type: ignore[no-untyped-def]
    wrong = Kiosk(kiosk.id, "lgd_wrong", {"Authorization": "Bearer lgd_wrong"})
    assert push(client, wrong, [event(1)]).status_code == 401
    assert client.post(f"/api/v1/devices/{kiosk.id}:revoke", headers=admin.headers).status_code == 200
    response = push(client, kiosk, [event(1)])
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_racing_identical_batches_store_each_event_once(database: Database, kiosk: Kiosk) -> None:
    events = [event(seq) for seq in range(1, 201)]
    replies: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def send(key: str) -> None:
        try:
            with database.session() as session:
                device = session.get(Device, kiosk.id)
                assert device is not None
                replies.append(ingest.ingest(session, device, key, events))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(str(uuid.uuid4()),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert _stored(database, kiosk.id) == 200
    accepted = sum(r["status"] == "accepted" for reply in replies for r in reply["results"])  # type: ignore[attr-defined]
    assert accepted == 200


def test_an_event_with_an_absurd_time_is_rejected_alone(client: TestClient, kiosk: Kiosk, database: Database) -> None:
    events = [event(1), event(2, captured_at="0001-01-01T00:00:00+05:00"),
              event(3, captured_at="9999-12-31T23:59:59-05:00"), event(4, captured_at="1999-12-31T23:59:59Z"),
              event(5, captured_at="2101-01-01T00:00:00Z"), event(6)]
    response = push(client, kiosk, events)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "rejected", "rejected", "accepted"]
    for result in results[1:5]:
        assert "captured_at" in result["reason"] and "2000-01-01" in result["reason"], result["reason"]
    assert "0001-01-01T00:00:00+05:00" in results[1]["reason"]
    assert _stored(database, kiosk.id) == 2


def test_an_item_that_is_not_an_object_is_rejected_alone(client: TestClient, kiosk: Kiosk,
                                                          database: Database) -> None:
    items: list[object] = [event(1), None, 7, "an event", [event(2)], True, event(3)]
    response = push(client, kiosk, items)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", *["rejected"] * 5, "accepted"]
    for result, kind in zip(results[1:6], ("null", "number", "string", "array", "boolean"), strict=True):
        assert result["id"] is None and "JSON object" in result["reason"] and kind in result["reason"], result
    assert _stored(database, kiosk.id) == 2
    again = push(client, kiosk, [None])  # a batch of nothing but junk is still answered per item
    assert again.status_code == 200 and again.json()["results"][0]["status"] == "rejected"


def test_an_id_sent_twice_in_one_batch_beside_stored_ones_is_stored_once(client: TestClient, kiosk: Kiosk,
                                                                           database: Database) -> None:
    """The batch goes in as one insert that skips stored ids: an id repeated inside the batch, and ids
    stored by an earlier batch, still get the status of their own content, in the order sent."""
    stored = [event(1), event(2)]
    assert {r["status"] for r in push(client, kiosk, stored).json()["results"]} == {"accepted"}
    new = event(3)
    batch = [new, stored[0], {**stored[1], "score": 0.1}, new, {**new, "margin": 0.5}, {**event(4), "seq": "x"}]
    results = push(client, kiosk, batch).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "duplicate", "conflict", "duplicate", "conflict",
                                              "rejected"]
    assert _stored(database, kiosk.id) == 3
    with database.session() as session:
        assert session.scalar(select(Event.margin).where(Event.event_id == new["id"])) == new["margin"]
        assert sorted(session.scalars(select(EventConflict.event_id))) == sorted([stored[1]["id"], new["id"]])


def test_the_mark_below_which_no_seq_is_missing_follows_the_first_gap(client: TestClient, kiosk: Kiosk,
                                                                       database: Database) -> None:
    """Gaps are looked for above the device's mark only; the mark stops below the first gap and moves
    on once the gap is filled, so the reply is the same as a scan of every seq."""
    def mark() -> int:
        with database.session() as session:
            return session.scalar(select(Device.seq_contiguous).where(Device.id == kiosk.id)) or 0

    assert push(client, kiosk, [event(seq) for seq in range(1, 6)]).json()["missing_seq"] == []
    assert mark() == 5
    assert push(client, kiosk, [event(8), event(12)]).json()["missing_seq"] == [[6, 7], [9, 11]]
    assert mark() == 5
    assert push(client, kiosk, [event(7), event(6)]).json()["missing_seq"] == [[9, 11]]
    assert mark() == 8
    assert push(client, kiosk, [event(3)]).json()["missing_seq"] == [[9, 11]]  # an old seq again: nothing moves
    assert mark() == 8
    assert push(client, kiosk, [event(seq) for seq in (9, 10, 11)]).json()["missing_seq"] == []
    assert mark() == 12


def test_a_time_with_an_offset_postgresql_would_refuse_is_stored_in_utc(client: TestClient, kiosk: Kiosk,
                                                                          database: Database) -> None:
    """A valid ISO time may carry any offset under 24 h; PostgreSQL's text input refuses those beyond
    15:59, so the batch's rows carry UTC."""
    sent = event(1, captured_at="2026-11-27T07:53:50-16:58")
    assert push(client, kiosk, [sent]).json()["results"][0]["status"] == "accepted"
    with database.session() as session:
        stored = session.scalar(select(Event.captured_at).where(Event.event_id == sent["id"]))
    assert stored is not None and stored.isoformat() == "2026-11-28T00:51:50+00:00"
    assert push(client, kiosk, [sent]).json()["results"][0]["status"] == "duplicate"
