"""The face engine the server shares across requests: the kiosk's own ``models`` package, loaded on
first use and judging photos exactly as the kiosk's enrolment does (``models.enrolment.photo_view``),
a bounded number of photos at once (``turn``), and a gallery rebuilt only when templates changed."""

from __future__ import annotations

import functools
import threading
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.engine import EngineSettings, FaceEngine
from models.enrolment import photo_view
from models.gallery import Gallery
from models.runtime import ModelError
from server.core.errors import Unavailable
from server.core.settings import Settings
from server.core.turns import Turns
from server.faces.tables import Template
from server.feed.tables import FeedChange

TEMPLATE_CHANGES = ("template", "template_removed", "tombstone")


@functools.lru_cache(maxsize=2)
def load_engine(model_dir: Path | None) -> FaceEngine:
    """One engine per model folder per process: it is read-only once built, and slow to build."""
    return photo_view(FaceEngine(EngineSettings(model_dir=model_dir)))


class FaceProvider:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: FaceEngine | None = None
        self._lock = threading.Lock()
        self._gallery: tuple[int, Gallery] | None = None
        self.turns = Turns(settings.faces_max_concurrent, settings.faces_wait_seconds, "analysing photos")

    def turn(self) -> AbstractContextManager[None]:
        """Hold one of the turns for decoding and analysing a photo (each can take a few hundred MB
        for a 40 Mpx photo); ``Busy`` (503 + Retry-After) when none came free in time."""
        return self.turns.turn()

    def engine(self) -> FaceEngine:
        if not self.settings.faces_enabled:
            raise Unavailable("the face API is off on this server (LABGATE_FACES_ENABLED=false)")
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    try:
                        self._engine = load_engine(self.settings.models_dir)
                    except (ModelError, OSError) as exc:
                        raise Unavailable(f"the face models cannot be loaded: {exc}") from exc
        return self._engine

    def model_id(self) -> str | None:
        """The server's embedding model, or None when the face API is off or not built."""
        try:
            return self.engine().model_id
        except Unavailable:
            return None

    def gallery(self, session: Session) -> Gallery:
        """Every stored template of the engine's model, grouped by person id."""
        engine = self.engine()
        stamp = session.scalar(select(func.max(FeedChange.seq)).where(FeedChange.kind.in_(TEMPLATE_CHANGES))) or 0
        cached = self._gallery
        if cached is not None and cached[0] == stamp:
            return cached[1]
        gallery = engine.new_gallery()
        vectors: dict[str, list[np.ndarray]] = {}
        rows = session.execute(select(Template.person_id, Template.vector).where(Template.model_id == engine.model_id))
        for person_id, blob in rows:
            vectors.setdefault(person_id, []).append(np.frombuffer(blob, dtype="<f4"))
        for person_id, found in vectors.items():
            gallery.add(person_id, np.stack(found), engine.model_id)
        self._gallery = (stamp, gallery)
        return gallery
