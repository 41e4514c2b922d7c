"""Who is calling: a signed-in person acting in one role (what services and the audit log see)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    person_id: str
    number: str
    name: str
    role: str
    roles: tuple[str, ...]
