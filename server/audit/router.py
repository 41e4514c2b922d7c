"""Read the audit log (admin and head)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from server.audit import service
from server.audit.schemas import AuditOut
from server.auth.actor import Actor
from server.auth.dependencies import allow
from server.auth.roles import Role
from server.core.dependencies import SessionDep

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditOut])
def audit_log(_: Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD))], session: SessionDep,
              after: Annotated[int, Query(ge=0, le=2**62, description="entries after this id (paging)")] = 0,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              action: Annotated[str | None, Query(max_length=48, examples=["person.erase"])] = None,
              actor_id: Annotated[str | None, Query(max_length=64)] = None,
              target_id: Annotated[str | None, Query(max_length=64)] = None) -> list[AuditOut]:
    """Every action that changed something, oldest first: who (and in which role), what, on what."""
    return [AuditOut.model_validate(e) for e in service.entries(session, after, limit, action, actor_id, target_id)]
