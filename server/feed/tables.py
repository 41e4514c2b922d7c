"""The journal: one row per change a kiosk must see, numbered in commit order across all kinds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.core.database import Base


class FeedChange(Base):
    __tablename__ = "feed_changes"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))  # person | template | template_removed | tombstone
    ref: Mapped[str] = mapped_column(String(64))  # the id of the changed row
    at: Mapped[datetime]
