"""Write and read the audit log. ``record`` adds to the caller's transaction, so an action and its
audit row commit together or not at all."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.audit.tables import AuditEntry
from server.auth.actor import Actor
from server.core.clock import utcnow

log = logging.getLogger("labgate.audit")


def record(session: Session, actor: Actor | None, action: str, target_type: str, target_id: str | None,
           **detail: Any) -> None:
    session.add(AuditEntry(
        at=utcnow(), actor_id=actor.person_id if actor else None, actor_number=actor.number if actor else None,
        actor_role=actor.role if actor else None, action=action, target_type=target_type, target_id=target_id,
        detail=detail,
    ))
    log.info("event=audit action=%s target=%s:%s actor=%s role=%s", action, target_type, target_id,
             actor.number if actor else "system", actor.role if actor else "-")


def entries(session: Session, after: int = 0, limit: int = 100, action: str | None = None,
            actor_id: str | None = None, target_id: str | None = None) -> Sequence[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor_id:
        query = query.where(AuditEntry.actor_id == actor_id)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    return session.scalars(query).all()
