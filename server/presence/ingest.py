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
from sqlalchemy import ARRAY, String, Table, any_, bindparam, delete, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
    """One statement stores the batch: the new events go in, and those whose id is stored already (by
    an earlier batch, another device, or a batch racing this one) are skipped by the database, which
    makes the count exactly-once; only those skipped are then read back, to tell a duplicate from a
    conflict."""
    now = utcnow()
    checked: list[EventIn | str] = [_check(item) for item in raw]
    first: dict[str, tuple[EventIn, str]] = {}  # event id -> (event, digest) as first sent in this batch
    digests: list[str | None] = []
    for event in checked:
        digest = _digest_of(event) if isinstance(event, EventIn) else None
        digests.append(digest)
        if isinstance(event, EventIn) and digest is not None:
            first.setdefault(event.id, (event, digest))
    numbers = list({e.person for e, _ in first.values() if e.person})
    known = {number for number, in _among(session, Person.number, numbers)}
    erased = {number for number, in _among(session, Tombstone.number, [n for n in numbers if n not in known])}
    rows = [_row(device.id, event, digest, event.person in known if event.person else True, now,
                 event.person in erased) for event, digest in first.values()]
    inserted = _insert(session, rows)
    stored = _stored(session, [i for i in first if i not in inserted])
    results: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for item, event, digest in zip(raw, checked, digests, strict=True):
        if not isinstance(event, EventIn) or digest is None:
            sent_id = item.get("id") if isinstance(item, dict) else None
            results.append({"id": sent_id if isinstance(sent_id, str) else None, "status": "rejected",
                            "reason": event})
            continue
        if event.id in inserted:
            if first[event.id][0] is event:
                results.append({"id": event.id, "status": "accepted", "reason": None})
                continue
            previous, holder = first[event.id][1], device.id  # sent twice in this batch
        else:
            previous, holder = stored[event.id]
        elsewhere = f"stored under device {holder}" if holder != device.id else ""
        if previous == digest:
            results.append({"id": event.id, "status": "duplicate", "reason": elsewhere or None})
        else:
            conflicts.append({"device_id": device.id, "event_id": event.id, "content": json.loads(_canonical(event)),
                              "received_at": now})
            results.append({"id": event.id, "status": "conflict", "reason": "an event with this id is stored with "
                            f"other content{f' ({elsewhere})' if elsewhere else ''}; the stored one is kept"})
    if inserted:
        checkin.by_presence(session, device.room, [r for r in rows if r["event_id"] in inserted])
    if conflicts:
        session.execute(insert(EventConflict), conflicts)
        log.warning("event=ingest_conflict device=%s count=%d ids=%s", device.id, len(conflicts),
                    ",".join(c["event_id"] for c in conflicts[:10]))
    reply = {"results": results, "server_time": iso(now), "missing_seq": sequence.advance(session, device.id)}
    session.execute(delete(IngestBatch).where(IngestBatch.device_id == device.id,
                                              IngestBatch.created_at < now - KEEP_REPLIES))
    session.add(IngestBatch(device_id=device.id, idempotency_key=key, request_hash=request_hash, response=reply,
                            created_at=now))
    session.commit()
    counts = {s: sum(r["status"] == s for r in results) for s in ("accepted", "duplicate", "conflict", "rejected")}
    log.info("event=ingest device=%s key=%s %s", device.id, key, " ".join(f"{k}={v}" for k, v in counts.items()))
    return reply


def _insert(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """The ids of the rows stored; a row whose event id is stored already (under any device) is skipped.
    PostgreSQL: one INSERT ... SELECT from the rows as one JSON parameter, read into the table's own
    row type, times in UTC (PostgreSQL refuses an offset beyond 15:59, which a kiosk may send; one
    C-encoded string, where per-row or per-column parameters cost more to encode than
    the database takes to store them); SQLite (in this process): Core's multi-row insert."""
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        document = json.dumps([{**row, "captured_at": row["captured_at"].astimezone(UTC).isoformat(),
                                "received_at": row["received_at"].astimezone(UTC).isoformat()} for row in rows])
        return set(session.scalars(_FROM_JSON, {"rows": document}))
    statement = sqlite_insert(EVENTS).on_conflict_do_nothing().returning(EVENTS.c.event_id)
    return set(session.scalars(statement, rows))


_COLUMNS = ", ".join(EVENTS.c.keys())
_FROM_JSON = text(f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM json_populate_recordset(NULL::events, "
                  f"CAST(:rows AS json)) ON CONFLICT DO NOTHING RETURNING event_id")


def _among(session: Session, key: Any, values: list[str], *more: Any) -> list[Any]:
    """The rows (``key``, ``*more``) whose ``key`` is one of ``values``: PostgreSQL gets one array
    parameter (``= ANY``), so the statement is the same whatever the count; SQLite an IN list in chunks
    below its parameter limit."""
    if not values:
        return []
    if session.get_bind().dialect.name == "postgresql":
        listed = bindparam(None, values, type_=ARRAY(String))
        return list(session.execute(select(key, *more).where(key == any_(listed))))
    found: list[Any] = []
    for start in range(0, len(values), CHUNK):
        found.extend(session.execute(select(key, *more).where(key.in_(values[start:start + CHUNK]))))
    return found


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
    """The event as JSON with sorted keys and the time in UTC to the microsecond: what ``content_hash``
    is of (stored hashes depend on it byte for byte). The fields are read directly, not through
    ``model_dump``, which costs more than the rest of the event's ingest."""
    values = {"captured_at": event.captured_at.astimezone(UTC).isoformat(timespec="microseconds"),
              "clock_suspect": event.clock_suspect, "id": event.id, "margin": event.margin, "method": event.method,
              "model_id": event.model_id, "outcome": event.outcome, "person": event.person, "score": event.score,
              "seq": event.seq}
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def _digest_of(event: EventIn) -> str:
    return hashlib.sha256(_canonical(event).encode()).hexdigest()


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
    return {event_id: (digest, holder) for event_id, digest, holder in _among(
        session, Event.event_id, ids, Event.content_hash, Event.device_id)}


def _digest(events: list[Any]) -> str:
    return hashlib.sha256(json.dumps(events, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
