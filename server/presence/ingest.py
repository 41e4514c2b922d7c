"""The idempotent ingest of a kiosk's event batch (design.md, "Push").

Each event is stored once by its id, across devices (UUIDv7, made on the kiosk; a kiosk provisioned
again under a new device id sends its old events again): new -> accepted; the same content again ->
duplicate (the reason names the other device when it was stored under one); other content under a
stored id -> conflict (logged, the stored one kept); invalid (a wrong field, a time outside
2000..2100, not even a JSON object) -> rejected alone, with the reason naming the field, and the
rest of the batch is stored. A batch whose Idempotency-Key was seen gets the first reply again. Two
batches racing each other end the same way: the loser retries and finds the winner's rows. An event
naming an erased person (from a kiosk that was offline when the erasure happened) is stored without
the number, as the erasure left that person's other events.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.bookings import checkin
from server.core.clock import iso, utcnow
from server.core.errors import Invalid
from server.devices.tables import Device
from server.people.tables import Person, Tombstone
from server.presence import sequence
from server.presence.schemas import EventIn
from server.presence.tables import Event, EventConflict, IngestBatch

log = logging.getLogger("labgate.presence")

EVENTS = cast(Table, Event.__table__)
KEEP_REPLIES = timedelta(days=30)
CHUNK = 500


def ingest(session: Session, device: Device, key: str, events: list[Any]) -> dict[str, Any]:
    """The reply to one batch (the contract's JSON), stored under the Idempotency-Key."""
    request_hash = _digest(events)
    for attempt in (1, 2):
        replay = session.get(IngestBatch, (device.id, key))
        if replay is not None:
            if replay.request_hash != request_hash:
                raise Invalid(f"Idempotency-Key {key} was already used for a different batch; use a new key for "
                              f"new events", [(["header", "Idempotency-Key"], "reused with a different body")])
            return replay.response
        try:
            return _store(session, device, key, request_hash, events)
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise
            log.info("event=ingest_race device=%s key=%s", device.id, key)
    raise AssertionError("unreachable")


def _store(session: Session, device: Device, key: str, request_hash: str, raw: list[Any]) -> dict[str, Any]:
    now = utcnow()
    checked: list[EventIn | str] = [_check(item) for item in raw]
    valid = [e for e in checked if isinstance(e, EventIn)]
    stored = _stored(session, list({e.id for e in valid}))
    known = _known_numbers(session, list({e.person for e in valid if e.person}))
    erased = _erased_numbers(session, list({e.person for e in valid if e.person and e.person not in known}))
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for item, event in zip(raw, checked, strict=True):
        if isinstance(event, str):
            sent_id = item.get("id") if isinstance(item, dict) else None
            results.append({"id": sent_id if isinstance(sent_id, str) else None, "status": "rejected",
                            "reason": event})
            continue
        content = _canonical(event)
        digest = hashlib.sha256(content.encode()).hexdigest()
        previous, holder = stored.get(event.id, (None, device.id))
        elsewhere = f"stored under device {holder}" if holder != device.id else ""
        if previous is None:
            stored[event.id] = (digest, device.id)
            rows.append(_row(device.id, event, digest, event.person in known if event.person else True, now,
                             event.person in erased))
            results.append({"id": event.id, "status": "accepted", "reason": None})
        elif previous == digest:
            results.append({"id": event.id, "status": "duplicate", "reason": elsewhere or None})
        else:
            conflicts.append({"device_id": device.id, "event_id": event.id, "content": json.loads(content),
                              "received_at": now})
            results.append({"id": event.id, "status": "conflict", "reason": "an event with this id is stored with "
                            f"other content{f' ({elsewhere})' if elsewhere else ''}; the stored one is kept"})
    if rows:
        session.connection().execute(insert(EVENTS), rows)  # Core's executemany: no ORM bulk machinery per row
        checkin.by_presence(session, device.room, rows)  # the door saw a booking's holder: checked in
    if conflicts:
        session.execute(insert(EventConflict), conflicts)
        log.warning("event=ingest_conflict device=%s count=%d ids=%s", device.id, len(conflicts),
                    ",".join(c["event_id"] for c in conflicts[:10]))
    reply = {"results": results, "server_time": iso(now), "missing_seq": sequence.missing(session, device.id)}
    session.execute(delete(IngestBatch).where(IngestBatch.device_id == device.id,
                                              IngestBatch.created_at < now - KEEP_REPLIES))
    session.add(IngestBatch(device_id=device.id, idempotency_key=key, request_hash=request_hash, response=reply,
                            created_at=now))
    session.commit()
    counts = {s: sum(r["status"] == s for r in results) for s in ("accepted", "duplicate", "conflict", "rejected")}
    log.info("event=ingest device=%s key=%s %s", device.id, key, " ".join(f"{k}={v}" for k, v in counts.items()))
    return reply


def _check(item: Any) -> EventIn | str:
    """The valid event, or why not, naming each faulty field."""
    if not isinstance(item, dict):
        return f"an event must be a JSON object, got {_json_kind(item)}"
    try:
        return EventIn.model_validate(item)
    except ValidationError as exc:
        faults = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            faults.append(f"{where}: {error['msg']}" if where else error["msg"])
        return "; ".join(faults)


def _json_kind(value: Any) -> str:
    kinds = ((type(None), "null"), (bool, "boolean"), (int, "number"), (float, "number"), (str, "string"),
             (list, "array"))
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _canonical(event: EventIn) -> str:
    values = event.model_dump()
    values["captured_at"] = event.captured_at.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def _row(device_id: str, event: EventIn, digest: str, number_known: bool, now: datetime,
         erased: bool = False) -> dict[str, Any]:
    return {
        "device_id": device_id, "event_id": event.id, "seq": event.seq,
        "person_number": None if erased else event.person, "number_known": number_known or erased,
        "outcome": event.outcome, "method": event.method, "score": event.score,
        "margin": event.margin, "model_id": event.model_id, "captured_at": event.captured_at,
        "clock_suspect": event.clock_suspect, "content_hash": digest, "received_at": now,
    }


def _stored(session: Session, ids: list[str]) -> dict[str, tuple[str, str]]:
    """{event id: (content hash, device id)} of the ids already stored, under any device."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(select(Event.event_id, Event.content_hash, Event.device_id).where(
            Event.event_id.in_(ids[start:start + CHUNK])))
        found.update((event_id, (digest, holder)) for event_id, digest, holder in rows)
    return found


def _known_numbers(session: Session, numbers: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(numbers), CHUNK):
        found.update(session.scalars(select(Person.number).where(Person.number.in_(numbers[start:start + CHUNK]))))
    return found


def _erased_numbers(session: Session, numbers: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(numbers), CHUNK):
        chunk = numbers[start:start + CHUNK]
        found.update(session.scalars(select(Tombstone.number).where(Tombstone.number.in_(chunk))))
    return found


def _digest(events: list[Any]) -> str:
    return hashlib.sha256(json.dumps(events, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
