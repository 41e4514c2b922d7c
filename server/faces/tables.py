"""Face templates: one embedding of one person for one model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.core.database import Base


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(200), index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, L2-normalised
    quality: Mapped[float] = mapped_column(Float)  # the detector's confidence in the face, 0..1
    source: Mapped[str] = mapped_column(String(16))  # photo
    photo_path: Mapped[str | None] = mapped_column(String(300))  # only when LABGATE_STORE_PHOTOS is on
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(36))
