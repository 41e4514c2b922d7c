"""Who may do what with rooms and bookings, and the path parameters they name."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from server.auth.actor import Actor
from server.auth.dependencies import allow
from server.auth.roles import Role
from server.bookings.schemas import Scope

Managers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD))]
"""Rooms, seats, blackouts, approvals, no-shows, reports: the head of the lab and admins."""

Bookers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.LECTURER, Role.ASSISTANT, Role.STUDENT))]
"""Who books rooms (a technician looks after kiosks, not the timetable)."""

RoomId = Annotated[str, Path(min_length=1, max_length=36)]
BookingId = Annotated[str, Path(min_length=1, max_length=36)]
ItemId = Annotated[str, Path(min_length=1, max_length=36)]
ScopeQuery = Annotated[Scope, Query(description="this occurrence, this and the following ones, or the whole series")]
