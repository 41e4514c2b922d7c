"""Every domain's tables, imported so ``Base.metadata`` is complete (for Alembic and the schema check)."""

from __future__ import annotations

from server.audit import tables as audit_tables
from server.auth import tables as auth_tables
from server.bookings import tables as booking_tables
from server.core import keys
from server.core.database import Base
from server.devices import tables as device_tables
from server.faces import tables as face_tables
from server.feed import tables as feed_tables
from server.notifications import tables as notification_tables
from server.people import tables as people_tables
from server.presence import tables as presence_tables
from server.recruitment import tables as recruitment_tables

metadata = Base.metadata

__all__ = [
    "audit_tables", "auth_tables", "booking_tables", "device_tables", "face_tables", "feed_tables", "keys", "metadata",
    "notification_tables", "people_tables", "presence_tables", "recruitment_tables",
]
