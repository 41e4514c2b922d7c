"""Audit entries at the edge."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from server.core.clock import UtcTime


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcTime
    actor_id: str | None
    actor_number: str | None
    actor_role: str | None
    action: str
    target_type: str
    target_id: str | None
    detail: dict[str, Any]
