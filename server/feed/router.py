"""Erasures as kiosks see them: which have applied each tombstone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from server.auth.actor import Actor
from server.auth.dependencies import allow
from server.auth.roles import Role
from server.core.dependencies import SessionDep
from server.feed import service
from server.feed.schemas import TombstoneStatusOut

router = APIRouter(tags=["people"])


@router.get("/tombstones", response_model=list[TombstoneStatusOut])
def tombstones(_: Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD))], session: SessionDep,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[TombstoneStatusOut]:
    """Erased people, newest first, with how many active kiosks have acknowledged each erasure."""
    return [TombstoneStatusOut(number=n, erased_at=at, devices_acknowledged=a, devices_pending=p)
            for n, at, a, p in service.erasures(session, limit, offset)]
