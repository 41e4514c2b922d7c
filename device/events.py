"""A presence event as the contract defines it (docs/design.md, "Contracts"), and its ids and times.

One event is one row of the store's ``events`` table, which is also the sync outbox.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OUTCOMES = ("accept", "unknown", "spoof")  # spoof: a photo or screen held up (liveness), no person
METHODS = ("face", "pin", "qr", "manual")
# A clock before this is certainly wrong (a Pi without a real-time clock boots in 1970).
EARLIEST_PLAUSIBLE = datetime(2025, 1, 1, tzinfo=UTC).timestamp()


def uuid7(unix_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, variant 10, 74 random bits."""
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    rand = int.from_bytes(os.urandom(10), "big")
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return str(uuid.UUID(int=value))


def iso_utc(unix: float) -> str:
    """``2026-11-22T08:15:02.123Z``."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(unix * 1000) % 1000:03d}Z"


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Event:
    id: str
    person: str | None
    outcome: str
    method: str
    score: float | None
    margin: float | None
    model_id: str | None
    captured_at: str
    clock_suspect: bool = False
    seq: int | None = None  # given by the store on commit
    synced_at: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"event outcome must be one of {OUTCOMES}, not {self.outcome!r}")
        if self.method not in METHODS:
            raise ValueError(f"event method must be one of {METHODS}, not {self.method!r}")
        if self.outcome == "accept" and not self.person:
            raise ValueError("an accept event needs a person number")
        if self.outcome == "spoof" and (self.person or self.method != "face"):
            raise ValueError("a spoof event is a face event with no person")
        if self.method != "face" and (self.score is not None or self.model_id is not None):
            raise ValueError(f"score, margin and model_id are for face events only, not {self.method!r}")

    def contract(self) -> dict[str, Any]:
        """The event as the wire contract spells it."""
        return {"id": self.id, "seq": self.seq, "person": self.person, "outcome": self.outcome,
                "method": self.method, "score": self.score, "margin": self.margin, "model_id": self.model_id,
                "captured_at": self.captured_at, "clock_suspect": self.clock_suspect}


def new_event(person: str | None, outcome: str, method: str, captured: float, *, score: float | None = None,
              margin: float | None = None, model_id: str | None = None, clock_offset_s: float = 0.0,
              max_offset_s: float = 300.0) -> Event:
    """An event captured at Unix time ``captured`` (the device clock); ``clock_offset_s`` is the server's
    estimate of how far that clock is off (set by sync); beyond ``max_offset_s`` the event is flagged."""
    suspect = captured < EARLIEST_PLAUSIBLE or abs(clock_offset_s) > max_offset_s
    return Event(uuid7(int(captured * 1000)), person, outcome, method,
                 None if score is None else round(float(score), 4),
                 None if margin is None else round(float(margin), 4),
                 model_id, iso_utc(captured), suspect)
