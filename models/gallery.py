"""The gallery: enrolled templates of one embedding model, matched as one matrix product."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ModelMismatch(ValueError):
    """Embeddings of two different models were about to be compared."""


@dataclass(frozen=True)
class Match:
    person: str
    score: float  # cosine similarity of the best template of this person


class Gallery:
    """Templates per person for exactly one ``model_id``; refuses any other model's embeddings."""

    def __init__(self, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self._templates: dict[str, np.ndarray] = {}
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._starts = np.zeros(0, dtype=np.int64)  # first row of each person (rows grouped by person)
        self._people: list[str] = []

    def __len__(self) -> int:
        return len(self._templates)

    def __contains__(self, person: object) -> bool:
        return person in self._templates

    @property
    def people(self) -> list[str]:
        return list(self._templates)

    def templates(self, person: str) -> np.ndarray:
        return self._templates[person]

    def add(self, person: str, embeddings: np.ndarray, model_id: str) -> None:
        """Add templates for ``person`` (appended to any it already has)."""
        self._check_model(model_id)
        vectors = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if vectors.shape[1] != self.dim:
            raise ValueError(f"templates for {person!r} have {vectors.shape[1]} dimensions, the gallery {self.dim}")
        if len(vectors) == 0:
            return
        old = self._templates.get(person)
        self._templates[person] = vectors if old is None else np.vstack([old, vectors])
        self._rebuild()

    def remove(self, person: str) -> bool:
        """Forget every template of ``person``; True if there were any."""
        if self._templates.pop(person, None) is None:
            return False
        self._rebuild()
        return True

    def scores(self, embeddings: np.ndarray, model_id: str) -> np.ndarray:
        """(N, P) best cosine score of each probe against each person, people in ``self.people`` order."""
        self._check_model(model_id)
        probes = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if not self._people:
            return np.zeros((len(probes), 0), dtype=np.float32)
        raw = probes @ self._matrix.T  # (N, T)
        return np.maximum.reduceat(raw, self._starts, axis=1)

    def match(self, embedding: np.ndarray, model_id: str, top: int = 5) -> list[Match]:
        """The ``top`` best people for one probe embedding, best first."""
        row = self.scores(embedding, model_id)[0]
        order = np.argsort(-row, kind="stable")[:top]
        return [Match(self._people[i], float(row[i])) for i in order]

    def _check_model(self, model_id: str) -> None:
        if model_id != self.model_id:
            raise ModelMismatch(
                f"embedding of model {model_id!r} cannot be compared with a gallery of {self.model_id!r}; "
                "re-embed the gallery for the new model (labgate-enroll reembed)"
            )

    def _rebuild(self) -> None:
        self._people = list(self._templates)
        blocks = [self._templates[p] for p in self._people]
        self._matrix = np.vstack(blocks) if blocks else np.zeros((0, self.dim), dtype=np.float32)
        counts = np.array([len(b) for b in blocks], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if blocks else counts
