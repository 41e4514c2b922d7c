"""Apply one page of the changes feed to the device store, in one transaction with its cursor.

The page is read and checked whole first: a page this kiosk cannot read is refused before anything
is written (the cursor stays, the page is asked for again later), so nothing is half applied and
nothing skipped. Then, in one ``BEGIN IMMEDIATE`` transaction, in this order:

1. tombstones: the person is erased (``Store.erase_in``: their templates, PIN, face crops and the
   number on used QR tokens, with ``secure_delete``); after the commit the puller runs ``Store.wipe``
   so no old copy stays in the WAL;
2. people: the server's record (name, roles, PIN hash, active, version). For someone enrolled on
   this device first (``origin = device``) the local roles are kept beside the server's and a local
   PIN is not wiped by a server that has none;
3. removed templates, then templates (by the server's id, ``server_id``; a template whose person
   this kiosk does not know yet brings the number along, never expected since the feed sends people
   first);
4. bookings, config, the QR public key, commands (recorded here, run after the commit);
5. the new cursor and the last sync time.

Tombstones go first: a page can hold an erasure and, after it, a new person with the same number.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from device.store import SERVER_CONFIG, Store, now_iso


class PageError(ValueError):
    """A page that breaks the contract; the message names the field."""


@dataclass(frozen=True)
class PersonChange:
    number: str
    name: str
    roles: tuple[str, ...]
    active: bool
    pin_hash: str | None
    version: int


@dataclass(frozen=True)
class TemplateChange:
    id: str
    number: str
    model_id: str
    vector: bytes
    quality: float | None


@dataclass(frozen=True)
class BookingChange:
    id: str
    room: str
    title: str
    holder: str
    starts_at: str
    ends_at: str
    removed: bool
    holder_number: str = ""
    participants: tuple[str, ...] = ()
    check_in_from: str | None = None
    status: str = "confirmed"


@dataclass(frozen=True)
class Command:
    id: str
    kind: str
    args: dict[str, Any]


@dataclass
class Page:
    next_cursor: str
    has_more: bool
    people: list[PersonChange] = field(default_factory=list)
    templates: list[TemplateChange] = field(default_factory=list)
    removed_templates: list[str] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)
    bookings: list[BookingChange] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    qr_public_key: str | None = None
    commands: list[Command] = field(default_factory=list)


@dataclass
class Applied:
    people: int = 0
    templates: int = 0
    removed_templates: int = 0
    erased: int = 0
    bookings: int = 0
    notes: list[str] = field(default_factory=list)  # what was applied in an unexpected way, for the log

    @property
    def changed(self) -> bool:
        return bool(self.people or self.templates or self.removed_templates or self.erased or self.bookings)


# -- reading a page --------------------------------------------------------------------------------
def read_page(body: dict[str, Any]) -> Page:
    cursor = body.get("next_cursor")
    if not isinstance(cursor, str) or not cursor:
        raise PageError("next_cursor: missing or not a string")
    if not isinstance(body.get("has_more"), bool):
        raise PageError("has_more: missing or not true/false")
    page = Page(cursor, body["has_more"])
    page.people = [_person(p, f"people[{i}]") for i, p in enumerate(_list(body, "people"))]
    page.templates = [_template(t, f"templates[{i}]") for i, t in enumerate(_list(body, "templates"))]
    page.removed_templates = [_text(r, "id", f"removed_templates[{i}]")
                              for i, r in enumerate(_list(body, "removed_templates"))]
    page.tombstones = [_text(t, "number", f"tombstones[{i}]") for i, t in enumerate(_list(body, "tombstones"))]
    room = body.get("config", {}).get("room", "") if isinstance(body.get("config"), dict) else ""
    page.bookings = [_booking(b, f"bookings[{i}]", str(room)) for i, b in enumerate(_list(body, "bookings"))]
    config = body.get("config", {})
    if not isinstance(config, dict):
        raise PageError("config: not an object")
    page.config = config
    key = body.get("qr_public_key")
    if key is not None:
        if not isinstance(key, str) or len(_b64(key, "qr_public_key")) != 32:
            raise PageError("qr_public_key: not base64 of 32 bytes")
        page.qr_public_key = key
    page.commands = [_command(c, f"commands[{i}]") for i, c in enumerate(_list(body, "commands"))]
    return page


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise PageError(f"{key}: not a list")
    return value


def _text(item: Any, key: str, where: str, empty: bool = False) -> str:
    if not isinstance(item, dict):
        raise PageError(f"{where}: not an object")
    value = item.get(key)
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise PageError(f"{where}.{key}: missing or not a string")
    return value


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PageError(f"{where}: not base64 ({exc})") from exc


def _person(item: Any, where: str) -> PersonChange:
    number, name = _text(item, "number", where), _text(item, "name", where, empty=True)
    roles, active, pin_hash, version = item.get("roles"), item.get("active"), item.get("pin_hash"), item.get("version")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise PageError(f"{where}.roles: not a list of strings")
    if not isinstance(active, bool):
        raise PageError(f"{where}.active: not true/false")
    if pin_hash is not None and not (isinstance(pin_hash, str) and pin_hash.startswith("scrypt$")):
        raise PageError(f"{where}.pin_hash: not null nor scrypt$N$r$p$<salt>$<hash>")
    if isinstance(version, bool) or not isinstance(version, int):
        raise PageError(f"{where}.version: not a whole number")
    return PersonChange(number, name, tuple(roles), active, pin_hash, version)


def _template(item: Any, where: str) -> TemplateChange:
    template_id, number = _text(item, "id", where), _text(item, "number", where)
    model_id = _text(item, "model_id", where)
    raw = _b64(_text(item, "vector", where), f"{where}.vector")
    if not raw or len(raw) % 4:
        raise PageError(f"{where}.vector: {len(raw)} bytes is not a float32 vector")
    if not np.isfinite(np.frombuffer(raw, dtype="<f4")).all():
        raise PageError(f"{where}.vector: holds NaN or infinity")
    quality = item.get("quality")
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int | float)
                                or not math.isfinite(quality)):
        raise PageError(f"{where}.quality: not a number")
    return TemplateChange(template_id, number, model_id, raw, None if quality is None else float(quality))


def _booking(item: Any, where: str, default_room: str) -> BookingChange:
    booking_id = _text(item, "id", where)
    removed = item.get("removed", False) is True or item.get("status") in ("cancelled", "removed", "rejected",
                                                                          "released")
    if removed:
        return BookingChange(booking_id, "", "", "", "", "", True)
    room = item.get("room", default_room)
    if not isinstance(room, str) or not room:
        raise PageError(f"{where}.room: missing (and the page's config names no room)")
    starts, ends = _text(item, "starts_at", where), _text(item, "ends_at", where)
    if not (starts.endswith("Z") and ends.endswith("Z")) or starts >= ends:
        raise PageError(f"{where}: starts_at and ends_at must be UTC times with Z, start before end")
    title = item.get("title", "")
    holder = item.get("holder", "")
    if not isinstance(title, str) or not isinstance(holder, str):
        raise PageError(f"{where}.title/holder: not strings")
    number, people, opens = item.get("holder_number", ""), item.get("participants", []), item.get("check_in_from")
    if not isinstance(number, str) or not isinstance(people, list) or not all(isinstance(p, str) for p in people):
        raise PageError(f"{where}.holder_number/participants: a number and a list of numbers")
    if opens is not None and (not isinstance(opens, str) or not opens.endswith("Z")):
        raise PageError(f"{where}.check_in_from: a UTC time with Z")
    status = item.get("status", "confirmed")
    return BookingChange(booking_id, room, title, holder, starts, ends, False, number, tuple(people), opens,
                         status if isinstance(status, str) else "confirmed")


def _command(item: Any, where: str) -> Command:
    command_id, kind = _text(item, "id", where), _text(item, "kind", where)
    args = item.get("args", {})
    if not isinstance(args, dict):
        raise PageError(f"{where}.args: not an object")
    return Command(command_id, kind, args)


# -- applying it -----------------------------------------------------------------------------------
def apply_page(store: Store, page: Page, extra: dict[str, str] | None = None) -> Applied:
    """Everything in the page, then the cursor, in one transaction."""
    done = Applied()
    stamp = now_iso()
    with store.writing() as db:
        conn = db.conn
        for number in page.tombstones:
            done.erased += store.erase_in(db, number, "sync") is not None
        _people(conn, page.people, stamp, done)
        for start in range(0, len(page.removed_templates), 500):
            chunk = page.removed_templates[start:start + 500]
            done.removed_templates += conn.execute(
                f"DELETE FROM templates WHERE server_id IN ({','.join('?' * len(chunk))})", chunk).rowcount
        _templates(conn, page.templates, stamp, done)
        for booking in page.bookings:
            if booking.removed:
                conn.execute("DELETE FROM bookings WHERE id = ?", (booking.id,))
            else:
                conn.execute("INSERT INTO bookings (id, room, title, holder, starts_at, ends_at, holder_number,"
                             " participants, check_in_from, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                             " ON CONFLICT(id) DO UPDATE SET room = excluded.room,"
                             " title = excluded.title, holder = excluded.holder, starts_at = excluded.starts_at,"
                             " ends_at = excluded.ends_at, holder_number = excluded.holder_number,"
                             " participants = excluded.participants, check_in_from = excluded.check_in_from,"
                             " status = excluded.status",
                             (booking.id, booking.room, booking.title, booking.holder, booking.starts_at,
                              booking.ends_at, booking.holder_number, json.dumps(list(booking.participants)),
                              booking.check_in_from, booking.status))
            done.bookings += 1
        settings = {SERVER_CONFIG: json.dumps(page.config, sort_keys=True)}
        if page.qr_public_key:
            settings["qr_public_key"] = page.qr_public_key
        conn.executemany("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                         " value = excluded.value WHERE settings.value IS NOT excluded.value", list(settings.items()))
        conn.executemany("INSERT INTO commands (id, kind, args, received_at) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT(id) DO NOTHING",
                         [(c.id, c.kind, json.dumps(c.args, sort_keys=True), stamp) for c in page.commands])
        store.set_sync_values({"cursor": page.next_cursor, "last_sync_at": stamp, **(extra or {})}, db)
    return done


def _people(conn: Any, people: list[PersonChange], stamp: str, done: Applied) -> None:
    numbers = [p.number for p in people]
    local: dict[str, tuple[str, str, str | None]] = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        for number, origin, roles, pin_hash in conn.execute(
                f"SELECT number, origin, roles, pin_hash FROM people WHERE number IN ({','.join('?' * len(chunk))})",
                chunk):
            local[number] = (origin, roles, pin_hash)
    for person in people:
        roles, pin_hash = list(person.roles), person.pin_hash
        if person.number in local and local[person.number][0] == "device":
            _origin, local_roles, local_pin = local[person.number]
            roles = sorted(set(roles) | set(json.loads(local_roles or "[]")))
            pin_hash = pin_hash or local_pin
        conn.execute(
            "INSERT INTO people (number, name, roles, pin_hash, active, version, updated_at, origin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'server') ON CONFLICT(number) DO UPDATE SET name = excluded.name,"
            " roles = excluded.roles, pin_hash = excluded.pin_hash, active = excluded.active,"
            " version = excluded.version, updated_at = excluded.updated_at",
            (person.number, person.name, json.dumps(roles), pin_hash, int(person.active), person.version, stamp))
        done.people += 1


def _templates(conn: Any, templates: list[TemplateChange], stamp: str, done: Applied) -> None:
    if not templates:
        return
    numbers = sorted({t.number for t in templates})
    known: set[str] = set()
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        known.update(n for (n,) in conn.execute(
            f"SELECT number FROM people WHERE number IN ({','.join('?' * len(chunk))})", chunk))
    for number in numbers:
        if number not in known:  # the feed sends a person before their templates; keep the template anyway
            conn.execute("INSERT INTO people (number, updated_at, origin) VALUES (?, ?, 'server')", (number, stamp))
            done.notes.append(f"person {number} came only with a template; kept with the number alone")
    for template in templates:
        conn.execute(
            "INSERT INTO templates (person, model_id, vector, quality, source, created_at, server_id)"
            " VALUES (?, ?, ?, ?, 'sync', ?, ?) ON CONFLICT(server_id) WHERE server_id IS NOT NULL DO UPDATE SET"
            " person = excluded.person, model_id = excluded.model_id, vector = excluded.vector,"
            " quality = excluded.quality",
            (template.number, template.model_id, template.vector, template.quality, stamp, template.id))
        done.templates += 1
