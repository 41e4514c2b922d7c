"""The device store's schema, as numbered migrations: ``Store`` applies those above the file's
``PRAGMA user_version`` in order, each in one transaction. A new change is a new entry at the end;
an applied entry is never edited (a store already carries it)."""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "people, templates, events (the outbox), audit, sync state, settings, used QR tokens, bookings", """
CREATE TABLE people (
    number TEXT PRIMARY KEY,              -- NIM of a student, NIP of staff
    name TEXT NOT NULL DEFAULT '',
    roles TEXT NOT NULL DEFAULT '[]',     -- JSON list: student, assistant, technician, admin, ...
    pin_hash TEXT,                        -- scrypt$N$r$p$<salt b64>$<hash b64>, or NULL
    active INTEGER NOT NULL DEFAULT 1,
    consent_at TEXT,                      -- when the person agreed to face recognition (UTC)
    version INTEGER NOT NULL DEFAULT 1,   -- the server's version of this record
    updated_at TEXT NOT NULL
);
CREATE TABLE templates (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL REFERENCES people(number) ON DELETE CASCADE,
    model_id TEXT NOT NULL,               -- embeddings of different models are never compared
    vector BLOB NOT NULL,                 -- float32 little-endian, L2-normalised
    quality REAL,
    source TEXT NOT NULL DEFAULT '',      -- where it came from: enrol, import, sync, demo
    created_at TEXT NOT NULL
);
CREATE INDEX templates_by_model ON templates (model_id, person);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, -- the device's monotonic sequence, from 1, never reused
    id TEXT NOT NULL UNIQUE,              -- UUIDv7
    person TEXT,                          -- number, or NULL for an unknown face
    outcome TEXT NOT NULL CHECK (outcome IN ('accept', 'unknown')),
    method TEXT NOT NULL CHECK (method IN ('face', 'pin', 'qr', 'manual')),
    score REAL,
    margin REAL,
    model_id TEXT,
    captured_at TEXT NOT NULL,            -- UTC ISO 8601 with Z
    synced_at TEXT,                       -- NULL while the event waits in the outbox
    clock_suspect INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_outbox ON events (seq) WHERE synced_at IS NULL;
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,                  -- a person number, 'system', 'cli' or 'sync'
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'     -- JSON
);
CREATE TABLE sync_state (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE qr_used (jti TEXT PRIMARY KEY, number TEXT NOT NULL, exp INTEGER NOT NULL, used_at TEXT NOT NULL);
CREATE TABLE bookings (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    title TEXT NOT NULL,
    holder TEXT NOT NULL DEFAULT '',
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL
);
CREATE INDEX bookings_by_room ON bookings (room, starts_at);
-- The loop reloads its gallery when this counter moves, whoever changed people or templates.
INSERT INTO settings (key, value) VALUES ('gallery_version', '0');
CREATE TRIGGER templates_insert AFTER INSERT ON templates BEGIN
    UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_version'; END;
CREATE TRIGGER templates_delete AFTER DELETE ON templates BEGIN
    UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_version'; END;
CREATE TRIGGER templates_update AFTER UPDATE ON templates BEGIN
    UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_version'; END;
CREATE TRIGGER people_update AFTER UPDATE OF active, name ON people BEGIN
    UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_version'; END;
"""),
    (2, "consent details, re-enrolment flag, encrypted crops, server template ids, sync issues, commands", """
ALTER TABLE people ADD COLUMN consent_by TEXT;          -- who recorded the consent (technician number)
ALTER TABLE people ADD COLUMN consent_policy TEXT;      -- the consent policy version agreed to
ALTER TABLE people ADD COLUMN needs_reenrol INTEGER NOT NULL DEFAULT 0;  -- no template for the active model
ALTER TABLE people ADD COLUMN origin TEXT NOT NULL DEFAULT 'device';     -- device (enrolled here) | server
ALTER TABLE templates ADD COLUMN server_id TEXT;        -- the server's template id, for templates from sync
CREATE UNIQUE INDEX templates_server_id ON templates (server_id) WHERE server_id IS NOT NULL;
CREATE TABLE crops (                                    -- aligned face crops, kept only if configured
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL REFERENCES people(number) ON DELETE CASCADE,
    key_id TEXT NOT NULL,                 -- which key (kept outside this database) encrypts it
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,             -- AES-GCM of the crop image
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL              -- retention: deleted after this
);
CREATE INDEX crops_by_person ON crops (person);
CREATE TABLE sync_issues (                              -- events the server refused, for the technician
    event_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('conflict', 'rejected')),
    reason TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE TABLE commands (                                 -- commands from the server, acknowledged once done
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    args TEXT NOT NULL DEFAULT '{}',      -- JSON
    received_at TEXT NOT NULL,
    done_at TEXT,
    ok INTEGER,
    detail TEXT NOT NULL DEFAULT '',
    acked_at TEXT
);
"""),
    (3, "bookings: the holder's number, participants, check-in opening (the door says a walk-in checked in)", """
ALTER TABLE bookings ADD COLUMN holder_number TEXT NOT NULL DEFAULT '';  -- NIM/NIP of the holder
ALTER TABLE bookings ADD COLUMN participants TEXT NOT NULL DEFAULT '[]'; -- JSON list of numbers
ALTER TABLE bookings ADD COLUMN check_in_from TEXT;     -- UTC; check-in by presence opens then (NULL: at the start)
ALTER TABLE bookings ADD COLUMN status TEXT NOT NULL DEFAULT 'confirmed';  -- confirmed | checked_in | completed
"""),
    (4, "events may be 'spoof' (liveness: a photo or screen held up); the table is rebuilt, seq carries on", """
CREATE TABLE events_new (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, -- the device's monotonic sequence, from 1, never reused
    id TEXT NOT NULL UNIQUE,              -- UUIDv7
    person TEXT,                          -- number, or NULL for an unknown face or a spoof
    outcome TEXT NOT NULL CHECK (outcome IN ('accept', 'unknown', 'spoof')),
    method TEXT NOT NULL CHECK (method IN ('face', 'pin', 'qr', 'manual')),
    score REAL,                           -- spoof: the liveness score (0 attack .. 1 live)
    margin REAL,                          -- spoof: the liveness score minus its threshold
    model_id TEXT,                        -- spoof: the liveness models
    captured_at TEXT NOT NULL,            -- UTC ISO 8601 with Z
    synced_at TEXT,                       -- NULL while the event waits in the outbox
    clock_suspect INTEGER NOT NULL DEFAULT 0
);
INSERT INTO events_new (seq, id, person, outcome, method, score, margin, model_id, captured_at, synced_at,
                        clock_suspect)
    SELECT seq, id, person, outcome, method, score, margin, model_id, captured_at, synced_at, clock_suspect
    FROM events;
DELETE FROM sqlite_sequence WHERE name = 'events_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'events_new', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_outbox ON events (seq) WHERE synced_at IS NULL;
"""),
]


def statements(sql: str) -> list[str]:
    """Split a migration into statements (triggers hold ';' inside BEGIN ... END)."""
    found, buffer = [], ""
    for part in sql.split(";"):
        buffer += part + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                found.append(buffer.strip())
            buffer = ""
    return found
