"""The device store: one SQLite file (WAL) through sqlite-utils, safe to use from several threads.

Each thread gets its own connection (``busy_timeout`` set, ``synchronous=FULL`` so a committed event
survives a power cut), and every write is one short ``BEGIN IMMEDIATE`` transaction, so the screen,
the recognition loop and sync never see "database is locked". The ``events`` table is the sync
outbox: ``synced_at`` is NULL until the server took the event. Schema changes are numbered
migrations (``device.migrations``), recorded in ``PRAGMA user_version``.

A technician can open the file with ``sqlite-utils tables kiosk.db --counts`` or ``sqlite3``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from device.events import Event, iso_utc, parse_iso
from device.migrations import MIGRATIONS, statements

BUSY_TIMEOUT_MS = 10_000
WIPE_WAIT_S = 10.0  # how long an erasure waits for readers to let go of old snapshots before it reports "busy"
WIPE_STEP_MS = 100  # one checkpoint attempt's wait, within that
WIPE_PENDING = "wipe_pending"  # settings key: deletions not yet wiped from the WAL (a count)
PIN_ATTEMPTS = "pin_attempts"  # settings key: the PIN rate limit's state as JSON (kiosk.fallback)
SERVER_CONFIG = "server_config"  # settings key: the config the server last sent, as JSON (sync.apply)


class StoreError(RuntimeError):
    """The device store cannot be used as it is (newer schema, unreadable file)."""


@dataclass(frozen=True)
class Person:
    number: str
    name: str
    roles: tuple[str, ...]
    pin_hash: str | None
    active: bool
    consent_at: str | None
    version: int


@dataclass(frozen=True)
class SealedCrop:
    """An aligned face crop, encrypted by ``enroll.crops`` with a key kept outside this database."""

    key_id: str
    nonce: bytes
    ciphertext: bytes
    expires_at: str


@dataclass(frozen=True)
class Enrolment:
    """One person's face templates for one model, saved in one transaction by ``save_enrolment``.

    ``name``, ``roles``, ``pin_hash`` and ``active`` are used when the person is new (an existing person
    keeps their record; an empty name is filled in). ``consent`` is (at, by, policy), None to leave it as it
    is. ``crops``: a tuple replaces the person's kept crops (an empty one deletes them), None leaves them.
    """

    number: str
    model_id: str
    vectors: np.ndarray
    quality: list[float | None]
    source: str
    actor: str
    name: str = ""
    roles: tuple[str, ...] = ("student",)
    pin_hash: str | None = None
    consent: tuple[str, str, str] | None = None
    crops: tuple[SealedCrop, ...] | None = None
    detail: dict[str, Any] | None = None
    active: bool = True


@dataclass(frozen=True)
class Erased:
    """What ``erase_person`` deleted; ``wiped``: no old copy is left in the database file or its WAL."""

    number: str
    templates: int
    crops: int
    wiped: bool = False


@dataclass(frozen=True)
class Booking:
    title: str
    holder: str
    starts_at: str
    ends_at: str
    id: str = ""
    holder_number: str = ""
    participants: tuple[str, ...] = ()
    check_in_from: str = ""

    def checks_in(self, number: str, stamp: str) -> bool:
        """Would ``number`` walking in at ``stamp`` (UTC ISO) check this booking in (holder or participant,
        between check-in opening and the end)? The server decides; the door says what it will do."""
        opens = self.check_in_from or self.starts_at
        return (number == self.holder_number or number in self.participants) and opens <= stamp < self.ends_at


def now_iso() -> str:
    return iso_utc(time.time())


class Store:
    """The device store at ``path``; ``Store(path)`` creates or migrates it."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # -- connections -------------------------------------------------------------------------------
    @property
    def db(self) -> Database:
        """This thread's connection, opened on first use."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous = FULL")  # fsync the WAL on every commit: events survive power cuts
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")  # erased people leave no bytes behind
            db = Database(conn, execute_plugins=False)
            self._local.db = db
            with self._lock:
                self._all.append(conn)
        return db

    def close(self) -> None:
        """Close every thread's connection (call when all users have stopped)."""
        with self._lock:
            for conn in self._all:
                with suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def writing(self) -> Iterator[Database]:
        """One short write transaction, taking the write lock up front (no lock upgrades to fail)."""
        db = self.db
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")

    def _migrate(self) -> None:
        db = self.db
        mode = db.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode}); is it on a network file system?")
        current = db.conn.execute("PRAGMA user_version").fetchone()[0]
        latest = MIGRATIONS[-1][0]
        if current > latest:
            raise StoreError(f"{self.path} has schema version {current}, newer than this kiosk's {latest}; "
                             "update the kiosk software")
        for version, _summary, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.writing():
                for statement in statements(sql):
                    db.conn.execute(statement)
                db.conn.execute(f"PRAGMA user_version = {version}")

    @property
    def schema_version(self) -> int:
        return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    # -- events: the outbox ------------------------------------------------------------------------
    def record_event(self, event: Event, qr_jti: tuple[str, int] | None = None) -> Event:
        """Commit one event (and, for a QR event, its token id, refused if used before); returns it with
        its ``seq``. Once this returns, the event is on disk."""
        with self.writing() as db:
            if qr_jti is not None:
                jti, exp = qr_jti
                db.conn.execute("INSERT INTO qr_used (jti, number, exp, used_at) VALUES (?, ?, ?, ?)",
                                (jti, event.person or "", exp, now_iso()))
            cursor = db.conn.execute(
                "INSERT INTO events (id, person, outcome, method, score, margin, model_id, captured_at, clock_suspect)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.id, event.person, event.outcome, event.method, event.score, event.margin, event.model_id,
                 event.captured_at, int(event.clock_suspect)))
            seq = cursor.lastrowid
        return replace(event, seq=int(seq or 0))

    def events_after(self, after: int, limit: int = 1000) -> list[Event]:
        rows = self.db.conn.execute(
            "SELECT seq, id, person, outcome, method, score, margin, model_id, captured_at, synced_at, clock_suspect"
            " FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)).fetchall()
        return [_event_row(row) for row in rows]

    def outbox(self, limit: int = 1000) -> list[Event]:
        """Events not yet synced, oldest first."""
        rows = self.db.conn.execute(
            "SELECT seq, id, person, outcome, method, score, margin, model_id, captured_at, synced_at, clock_suspect"
            " FROM events WHERE synced_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [_event_row(row) for row in rows]

    def outbox_size(self) -> int:
        return int(self.db.conn.execute("SELECT count(*) FROM events WHERE synced_at IS NULL").fetchone()[0])

    def mark_synced(self, ids: list[str], at: str | None = None, db: Database | None = None) -> int:
        """Mark events synced in one transaction, or inside the caller's (``db`` from ``writing``);
        returns how many rows changed."""
        if db is None:
            with self.writing() as own:
                return self.mark_synced(ids, at, own)
        stamp = at or now_iso()
        changed = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            changed += db.conn.execute(
                f"UPDATE events SET synced_at = ? WHERE synced_at IS NULL AND id IN ({marks})",
                [stamp, *chunk]).rowcount
        return changed

    def last_seq(self) -> int:
        return int(self.db.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def recent_accepts(self, since_unix: float) -> dict[str, float]:
        """{person: latest capture time} of accept events since ``since_unix`` (cooldowns after a restart)."""
        rows = self.db.conn.execute(
            "SELECT person, max(captured_at) FROM events WHERE outcome = 'accept' AND captured_at >= ?"
            " GROUP BY person", (iso_utc(since_unix),)).fetchall()
        return {person: parse_iso(at) for person, at in rows if person}

    # -- people and templates ----------------------------------------------------------------------
    def upsert_person(self, number: str, name: str = "", roles: tuple[str, ...] | list[str] = ("student",),
                      pin_hash: str | None = None, active: bool = True, consent_at: str | None = None,
                      version: int = 1) -> None:
        if not number or not number.strip():
            raise ValueError("a person needs a number (NIM or NIP)")
        with self.writing() as db:
            db.conn.execute(
                "INSERT INTO people (number, name, roles, pin_hash, active, consent_at, version, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(number) DO UPDATE SET name = excluded.name,"
                " roles = excluded.roles, pin_hash = excluded.pin_hash, active = excluded.active,"
                " consent_at = excluded.consent_at, version = excluded.version, updated_at = excluded.updated_at",
                (number, name, json.dumps(list(roles)), pin_hash, int(active), consent_at, version, now_iso()))

    def person(self, number: str) -> Person | None:
        row = self.db.conn.execute(
            "SELECT number, name, roles, pin_hash, active, consent_at, version FROM people WHERE number = ?",
            (number,)).fetchone()
        if row is None:
            return None
        return Person(row[0], row[1], tuple(json.loads(row[2] or "[]")), row[3], bool(row[4]), row[5], int(row[6]))

    def people_count(self, model_id: str | None = None) -> int:
        """Active people (with a template of ``model_id`` when given)."""
        if model_id is None:
            return int(self.db.conn.execute("SELECT count(*) FROM people WHERE active = 1").fetchone()[0])
        return int(self.db.conn.execute(
            "SELECT count(DISTINCT t.person) FROM templates t JOIN people p ON p.number = t.person"
            " WHERE p.active = 1 AND t.model_id = ?", (model_id,)).fetchone()[0])

    def add_templates(self, number: str, model_id: str, vectors: np.ndarray, quality: list[float] | None = None,
                      source: str = "") -> int:
        matrix = np.atleast_2d(np.asarray(vectors, dtype="<f4"))
        qualities = quality or [None] * len(matrix)  # type: ignore[list-item]
        stamp = now_iso()
        with self.writing() as db:
            for vector, q in zip(matrix, qualities, strict=True):
                db.conn.execute(
                    "INSERT INTO templates (person, model_id, vector, quality, source, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", (number, model_id, vector.tobytes(), q, source, stamp))
        return len(matrix)

    def templates(self, model_id: str) -> dict[str, np.ndarray]:
        """{number: (T, D) float32} of active people, for one model only."""
        grouped: dict[str, list[np.ndarray]] = {}
        for person, blob in self.db.conn.execute(
                "SELECT t.person, t.vector FROM templates t JOIN people p ON p.number = t.person"
                " WHERE p.active = 1 AND t.model_id = ? ORDER BY t.person, t.id", (model_id,)):
            grouped.setdefault(person, []).append(np.frombuffer(blob, dtype="<f4"))
        return {person: np.stack(vectors).astype(np.float32) for person, vectors in grouped.items()}

    def gallery_version(self) -> int:
        row = self.db.conn.execute("SELECT value FROM settings WHERE key = 'gallery_version'").fetchone()
        return int(row[0]) if row else 0

    # -- enrolment: faces, consent, kept crops, erasure (the rules live in enroll/) -------------------
    def face_templates(self, model_id: str, exclude: str | None = None) -> dict[str, np.ndarray]:
        """{number: (T, D) float32} of every person, active or not, for one model (the duplicate check)."""
        return _face_templates(self.db.conn, model_id, exclude)

    def save_enrolment(self, enrolment: Enrolment,
                       check: Callable[[dict[str, np.ndarray]], None] | None = None) -> int:
        """Save ``enrolment`` in one write transaction: the person (created when new), their device
        templates of this model replaced, consent and crops as given, the re-enrolment flag cleared,
        audited. ``check`` sees every other person's templates of the model inside the transaction and
        raises to refuse: then nothing is saved. Returns the number of templates saved."""
        e = enrolment
        matrix = np.atleast_2d(np.asarray(e.vectors, dtype="<f4"))
        if len(matrix) == 0 or len(matrix) != len(e.quality):
            raise ValueError(f"an enrolment needs one quality per template, got {len(matrix)} and {len(e.quality)}")
        stamp = now_iso()
        with self.writing() as db:
            if check is not None:
                check(_face_templates(db.conn, e.model_id, e.number))
            row = db.conn.execute("SELECT name FROM people WHERE number = ?", (e.number,)).fetchone()
            if row is None:
                db.conn.execute(
                    "INSERT INTO people (number, name, roles, pin_hash, active, updated_at, origin)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'device')",
                    (e.number, e.name, json.dumps(list(e.roles)), e.pin_hash, int(e.active), stamp))
            elif e.name and not row[0]:
                db.conn.execute("UPDATE people SET name = ? WHERE number = ?", (e.name, e.number))
            if e.consent is not None:
                db.conn.execute("UPDATE people SET consent_at = ?, consent_by = ?, consent_policy = ? WHERE number = ?",
                                (*e.consent, e.number))
            db.conn.execute("UPDATE people SET needs_reenrol = 0, updated_at = ? WHERE number = ?", (stamp, e.number))
            replaced = db.conn.execute(
                "DELETE FROM templates WHERE person = ? AND model_id = ? AND server_id IS NULL",
                (e.number, e.model_id)).rowcount
            for vector, q in zip(matrix, e.quality, strict=True):
                db.conn.execute(
                    "INSERT INTO templates (person, model_id, vector, quality, source, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", (e.number, e.model_id, vector.tobytes(), q, e.source, stamp))
            if e.crops is not None:
                db.conn.execute("DELETE FROM crops WHERE person = ?", (e.number,))
                for crop in e.crops:
                    db.conn.execute(
                        "INSERT INTO crops (person, key_id, nonce, ciphertext, created_at, expires_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (e.number, crop.key_id, crop.nonce, crop.ciphertext, stamp, crop.expires_at))
            self._audit(db, e.actor, "enrol.save", {
                "number": e.number, "model_id": e.model_id, "templates": len(matrix), "replaced": replaced,
                "crops": None if e.crops is None else len(e.crops), "source": e.source, **(e.detail or {})})
        return len(matrix)

    def enrolment_overview(self, model_id: str) -> list[dict[str, Any]]:
        """Every person with their face data for ``model_id``: templates of it, of other models, crops."""
        rows = self.db.conn.execute(
            "SELECT p.number, p.name, p.roles, p.active, p.origin, p.consent_at, p.consent_by, p.consent_policy,"
            " p.needs_reenrol, p.pin_hash IS NOT NULL,"
            " (SELECT count(*) FROM templates t WHERE t.person = p.number AND t.model_id = ?),"
            " (SELECT count(*) FROM templates t WHERE t.person = p.number AND t.model_id != ?),"
            " (SELECT count(*) FROM crops c WHERE c.person = p.number)"
            " FROM people p ORDER BY p.number", (model_id, model_id)).fetchall()
        keys = ("number", "name", "roles", "active", "origin", "consent_at", "consent_by", "consent_policy",
                "needs_reenrol", "has_pin", "templates", "other_templates", "crops")
        people = [dict(zip(keys, row, strict=True)) for row in rows]
        for person in people:
            person["roles"] = json.loads(person["roles"] or "[]")
            for flag in ("active", "needs_reenrol", "has_pin"):
                person[flag] = bool(person[flag])
        return people

    def person_record(self, number: str) -> dict[str, Any] | None:
        """The people row of ``number`` with every column (enrolment and bundles need more than ``Person``)."""
        row = self.db.conn.execute(
            "SELECT number, name, roles, pin_hash, active, consent_at, consent_by, consent_policy, origin"
            " FROM people WHERE number = ?", (number,)).fetchone()
        if row is None:
            return None
        keys = ("number", "name", "roles", "pin_hash", "active", "consent_at", "consent_by", "consent_policy",
                "origin")
        record = dict(zip(keys, row, strict=True))
        record["roles"] = json.loads(record["roles"] or "[]")
        record["active"] = bool(record["active"])
        return record

    def template_rows(self, model_id: str, number: str) -> list[tuple[np.ndarray, float | None, str]]:
        """(vector, quality, source) of one person's templates of one model."""
        return [(np.frombuffer(blob, dtype="<f4").astype(np.float32), quality, source)
                for blob, quality, source in self.db.conn.execute(
                    "SELECT vector, quality, source FROM templates WHERE person = ? AND model_id = ? ORDER BY id",
                    (number, model_id))]

    def kept_crops(self, number: str) -> list[SealedCrop]:
        return [SealedCrop(key_id, bytes(nonce), bytes(ciphertext), expires_at)
                for key_id, nonce, ciphertext, expires_at in self.db.conn.execute(
                    "SELECT key_id, nonce, ciphertext, expires_at FROM crops WHERE person = ? ORDER BY id", (number,))]

    def set_needs_reenrol(self, number: str, actor: str, model_id: str) -> None:
        with self.writing() as db:
            db.conn.execute("UPDATE people SET needs_reenrol = 1 WHERE number = ?", (number,))
            self._audit(db, actor, "enrol.needs_reenrol", {"number": number, "model_id": model_id})

    def purge_crops(self, actor: str, everything: bool = False, wait_s: float = WIPE_WAIT_S) -> int:
        """Delete kept crops past their expiry time (every crop with ``everything``), audited, then
        ``wipe(wait_s)``; returns how many."""
        stamp = now_iso()
        with self.writing() as db:
            if everything:
                gone = db.conn.execute("DELETE FROM crops").rowcount
            else:
                gone = db.conn.execute("DELETE FROM crops WHERE expires_at <= ?", (stamp,)).rowcount
            if gone:
                _wipe_due(db)
                self._audit(db, actor, "crops.purge", {"crops": gone, "everything": everything})
        if gone:
            self.wipe(wait_s)
        return int(gone)

    def drop_other_models(self, model_id: str, actor: str, wait_s: float = WIPE_WAIT_S) -> int:
        """Delete every template not of ``model_id`` (after a re-embed), audited, then ``wipe(wait_s)``."""
        with self.writing() as db:
            gone = db.conn.execute("DELETE FROM templates WHERE model_id != ?", (model_id,)).rowcount
            if gone:
                _wipe_due(db)
                self._audit(db, actor, "templates.drop_other_models", {"kept": model_id, "templates": gone})
        if gone:
            self.wipe(wait_s)
        return int(gone)

    def erase_person(self, number: str, actor: str, wait_s: float = WIPE_WAIT_S) -> Erased | None:
        """Erase a person (``erase_in``, in its own transaction), then ``wipe(wait_s)``. ``wiped`` in
        the answer is False when readers held old snapshots all that time: the erasure is committed
        but the old copies are still in the WAL until a later ``wipe`` (``wipe_pending``). None when
        the number is unknown."""
        with self.writing() as db:
            erased = self.erase_in(db, number, actor)
        if erased is None:
            return None
        return replace(erased, wiped=self.wipe(wait_s))

    def erase_in(self, db: Database, number: str, actor: str, detail: dict[str, Any] | None = None) -> Erased | None:
        """Erase ``number`` inside the caller's write transaction (``with store.writing() as db``), so
        that a caller such as sync can erase in the transaction that applies a page: their crops,
        templates and people row (name, PIN hash, consent), and their number on used QR tokens, with
        secure_delete on; audited as ``person.erase`` (also an unknown number, found false). Their
        attendance events stay (the lab's records). Returns what was deleted (``wiped`` False), None
        when unknown.

        The old page images stay in the WAL (and the erased rows in the database file) until a
        checkpoint: the caller runs ``wipe()`` after its commit. A pending wipe is recorded in the same
        transaction, so it is retried (``wipe_pending``) even after a crash."""
        found = db.conn.execute("SELECT 1 FROM people WHERE number = ?", (number,)).fetchone() is not None
        erased = None
        if found:
            crops = db.conn.execute("DELETE FROM crops WHERE person = ?", (number,)).rowcount
            templates = db.conn.execute("DELETE FROM templates WHERE person = ?", (number,)).rowcount
            db.conn.execute("DELETE FROM people WHERE number = ?", (number,))
            _wipe_due(db)
            erased = Erased(number, int(templates), int(crops))
        db.conn.execute("UPDATE qr_used SET number = '' WHERE number = ?", (number,))
        _forget_pin_attempts(db, number)
        counts = {"templates": erased.templates, "crops": erased.crops} if erased else {}
        self._audit(db, actor, "person.erase", {"number": number, "found": found, **counts, **(detail or {})})
        return erased

    def wipe(self, wait_s: float = WIPE_WAIT_S) -> bool:
        """Get deleted rows out of the database file and the WAL: checkpoint the WAL into the file and
        truncate it to 0 bytes. With secure_delete on, a delete zeroes the rows in their pages, but the
        older images of those pages stay in the WAL, and the rows in the file, until a checkpoint that
        no reader holds back: a reader with an older snapshot may still read them. So this retries for
        up to ``wait_s`` seconds until every reader has moved on (the kiosk's threads read in short
        statements). True when done (the pending wipe is then cleared); False when readers held it back
        all that time: the erasure stands, and the wipe stays pending (``wipe_pending``) for a later try.
        Call it outside any transaction of this thread."""
        conn = self.db.conn
        if conn.in_transaction:
            raise RuntimeError("Store.wipe() runs after the erasing transaction has committed")
        due = self.wipe_pending()
        deadline = time.monotonic() + max(0.0, wait_s)
        conn.execute(f"PRAGMA busy_timeout = {WIPE_STEP_MS}")  # short waits, so the deadline holds
        try:
            while True:
                try:
                    busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                except sqlite3.OperationalError:  # locked by a writer: the same as busy
                    busy = 1
                if not busy:
                    break
                if time.monotonic() >= deadline:
                    return False
                time.sleep(WIPE_STEP_MS / 2000)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if due:
            with self.writing() as db:  # unless another erasure came meanwhile
                db.conn.execute("DELETE FROM settings WHERE key = ? AND value = ?", (WIPE_PENDING, str(due)))
        return True

    def wipe_pending(self) -> int:
        """How many deletions since the last complete ``wipe`` (0: none waits)."""
        return int(self.setting(WIPE_PENDING) or 0)

    # -- audit, settings, sync state, bookings -----------------------------------------------------
    def audit(self, actor: str, action: str, **detail: Any) -> None:
        with self.writing() as db:
            self._audit(db, actor, action, detail)

    @staticmethod
    def _audit(db: Database, actor: str, action: str, detail: dict[str, Any]) -> None:
        db.conn.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                        (now_iso(), actor, action, json.dumps(detail, sort_keys=True)))

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?", [limit]))

    def setting(self, key: str, default: str | None = None) -> str | None:
        row = self.db.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def server_config(self, key: str) -> str | None:
        """A string value of the config the server last sent (sync keeps it in ``settings``), else None."""
        try:
            config = json.loads(self.setting(SERVER_CONFIG) or "{}")
        except ValueError:
            return None
        value = config.get(key) if isinstance(config, dict) else None
        return value if isinstance(value, str) and value else None

    def set_setting(self, key: str, value: str) -> None:
        with self.writing() as db:
            db.conn.execute("INSERT INTO settings (key, value) VALUES (?, ?)"
                            " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def sync_value(self, name: str) -> str | None:
        row = self.db.conn.execute("SELECT value FROM sync_state WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_sync_value(self, name: str, value: str) -> None:
        self.set_sync_values({name: value})

    def set_sync_values(self, values: dict[str, str], db: Database | None = None) -> None:
        """Several sync_state values in one transaction, or inside the caller's (``db`` from ``writing``)."""
        if db is None:
            with self.writing() as own:
                self.set_sync_values(values, own)
            return
        stamp = now_iso()
        db.conn.executemany("INSERT INTO sync_state (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(name)"
                            " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                            [(name, value, stamp) for name, value in values.items()])

    def current_booking(self, room: str, at_unix: float) -> Booking | None:
        if not room:
            return None
        stamp = iso_utc(at_unix)
        row = self.db.conn.execute(
            f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE room = ? AND starts_at <= ? AND ends_at > ?"
            " ORDER BY starts_at DESC LIMIT 1", (room, stamp, stamp)).fetchone()
        return _booking_row(row) if row else None

    def check_in_booking(self, room: str, number: str, at_unix: float) -> Booking | None:
        """The booking of ``room`` that ``number`` walking in now checks in (the earliest), or None."""
        if not room or not number:
            return None
        stamp = iso_utc(at_unix)
        rows = self.db.conn.execute(
            f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE room = ? AND COALESCE(check_in_from, starts_at) <= ?"
            " AND ends_at > ? ORDER BY starts_at", (room, stamp, stamp)).fetchall()
        return next((b for b in map(_booking_row, rows) if b.checks_in(number, stamp)), None)

    def integrity(self) -> str:
        return str(self.db.conn.execute("PRAGMA integrity_check").fetchone()[0])


BOOKING_COLUMNS = "title, holder, starts_at, ends_at, id, holder_number, participants, check_in_from"


def _booking_row(row: tuple[Any, ...]) -> Booking:
    title, holder, starts, ends, booking_id, number, participants, opens = row
    try:
        people = json.loads(participants or "[]")
    except ValueError:
        people = []
    return Booking(title, holder, starts, ends, booking_id, number or "",
                   tuple(p for p in people if isinstance(p, str)) if isinstance(people, list) else (), opens or "")


def _face_templates(conn: sqlite3.Connection, model_id: str, exclude: str | None) -> dict[str, np.ndarray]:
    grouped: dict[str, list[np.ndarray]] = {}
    for person, blob in conn.execute(
            "SELECT person, vector FROM templates WHERE model_id = ? AND person IS NOT ? ORDER BY person, id",
            (model_id, exclude)):
        grouped.setdefault(person, []).append(np.frombuffer(blob, dtype="<f4"))
    return {person: np.stack(vectors).astype(np.float32) for person, vectors in grouped.items()}


def _forget_pin_attempts(db: Database, number: str) -> None:
    """Drop an erased number from the saved PIN rate limit (its failures and lockouts name them)."""
    row = db.conn.execute("SELECT value FROM settings WHERE key = ?", (PIN_ATTEMPTS,)).fetchone()
    try:
        state = json.loads(row[0]) if row else None
    except ValueError:
        state = None
    if not isinstance(state, dict) or number not in state.get("numbers", {}):
        return
    del state["numbers"][number]
    kept = json.dumps(state, separators=(",", ":"))
    db.conn.execute("UPDATE settings SET value = ? WHERE key = ?", (kept, PIN_ATTEMPTS))


def _wipe_due(db: Database) -> None:
    """Record, in the deleting transaction, that a ``wipe`` is due."""
    db.conn.execute(f"INSERT INTO settings (key, value) VALUES ('{WIPE_PENDING}', '1') ON CONFLICT(key)"
                    " DO UPDATE SET value = CAST(value AS INTEGER) + 1")


def _event_row(row: tuple[Any, ...]) -> Event:
    seq, id_, person, outcome, method, score, margin, model_id, captured_at, synced_at, suspect = row
    return Event(id_, person, outcome, method, score, margin, model_id, captured_at, bool(suspect), int(seq), synced_at)

