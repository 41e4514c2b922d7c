"""Note a change kiosks must learn; the row commits with the change itself."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from server.core.clock import utcnow
from server.feed.tables import FeedChange

Kind = Literal["person", "template", "template_removed", "tombstone"]


def note(session: Session, kind: Kind, ref: str) -> None:
    session.add(FeedChange(kind=kind, ref=ref, at=utcnow()))
