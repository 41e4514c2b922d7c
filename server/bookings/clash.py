"""A clash: a booking or a blackout in the way, and how it is shown to whom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.auth.actor import Actor
from server.auth.roles import Role
from server.core.clock import iso

STAFF = {Role.ADMIN, Role.HEAD, Role.LECTURER, Role.TECHNICIAN}
"""Who sees every booking's holder; others see their own only."""


@dataclass
class Clash:
    starts_at: datetime
    ends_at: datetime
    kind: str  # booking | blackout
    booking_id: str | None = None
    holder_id: str | None = None
    holder: str | None = None
    title: str | None = None

    def shown(self, actor: Actor) -> dict[str, Any]:
        visible = actor.role in STAFF or actor.person_id == self.holder_id
        return {"starts_at": iso(self.starts_at), "ends_at": iso(self.ends_at), "kind": self.kind,
                "booking_id": self.booking_id, "holder": self.holder if visible else None,
                "title": self.title if visible or self.kind == "blackout" else None}
