"""Face embeddings from any ONNX embedder that carries a LabGate manifest.

Everything about the input (size, colour order, normalisation, crop method) and the output (size,
centring) is read from the manifest; nothing is guessed from node names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.align import crop_face
from models.detector import Face
from models.runtime import Manifest, ModelError, manifest_of, session


class Embedder:
    """Batched, L2-normalised embeddings of face crops, tagged with the model id."""

    def __init__(self, path: Path, threads: int = 2, flip: bool | None = None, batch_size: int = 16) -> None:
        self.path = path
        self._session = session(path, threads)
        self.manifest: Manifest = manifest_of(self._session, path)
        if self.manifest.kind != "embedder":
            raise ModelError(f"{path} is a {self.manifest.kind}, not an embedder")
        self._input = self._session.get_inputs()[0].name
        alignment = self.manifest.alignment
        self.flip = bool(alignment.get("flip", False)) if flip is None else flip
        mean = alignment.get("embedding_mean")
        self._centre = np.asarray(mean, dtype=np.float32) if mean else None
        if self._centre is not None and self._centre.shape != (self.manifest.embedding_size,):
            raise ModelError(
                f"{path}: embedding_mean has shape {self._centre.shape}, expected ({self.manifest.embedding_size},)"
            )
        self.batch_size = batch_size

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.manifest.input_size
        return height, width

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The crop this embedder expects for ``face`` in an RGB frame (uint8, H x W x 3)."""
        return crop_face(rgb, face, self.manifest.alignment, self.size)

    def embed_crops(self, crops: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """(N, D) float32 embeddings of RGB uint8 crops already at the model's input size."""
        batch = np.asarray(crops)
        if batch.ndim == 3:
            batch = batch[None]
        if len(batch) == 0:
            return np.zeros((0, self.manifest.embedding_size), dtype=np.float32)
        if batch.shape[1:3] != self.size or batch.shape[3] != 3:
            raise ValueError(f"crops must be (N, {self.size[0]}, {self.size[1]}, 3), got {batch.shape}")
        out = self._run(self._to_input(batch))
        if self.flip:  # average with the mirror image's embedding
            out = _normalise(out) + _normalise(self._run(self._to_input(batch[:, :, ::-1])))
        out = _normalise(out)
        if self._centre is not None:
            out = _normalise(out - self._centre)
        return out

    def network_output(self, crops: np.ndarray) -> np.ndarray:
        """The network's own L2-normalised embeddings: no centring, no flip (golden checks, calibration)."""
        return _normalise(self._run(self._to_input(np.asarray(crops))))

    def embed_faces(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Embeddings of several faces of one frame, in one batched run."""
        if not faces:
            return np.zeros((0, self.manifest.embedding_size), dtype=np.float32)
        return self.embed_crops(np.stack([self.crop(rgb, face) for face in faces]))

    def _to_input(self, batch: np.ndarray) -> np.ndarray:
        if self.manifest.colour == "BGR":
            batch = batch[..., ::-1]
        tensor = (batch.astype(np.float32) - self.manifest.mean) / self.manifest.std
        if self.manifest.layout == "NCHW":
            tensor = tensor.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(tensor, dtype=np.float32)

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        parts = [
            self._session.run(None, {self._input: tensor[i:i + self.batch_size]})[0]
            for i in range(0, len(tensor), self.batch_size)
        ]
        return np.concatenate(parts).astype(np.float32, copy=False)


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)
