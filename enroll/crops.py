"""Aligned face crops at rest: AES-256-GCM with a key kept in a file outside the database.

A crop is kept (only when [enrol] keep_crops is on) so that a new embedding model can re-embed the
person without bringing them back to the door. What is sealed is a small JSON header (the crop spec:
how the embedder cut it, so a re-embed knows whether the new model takes the same crop) and the crop
as PNG. The person's number and the key id are bound in as associated data: a ciphertext copied to
another person's row does not open.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class CropKeyError(RuntimeError):
    """The crop key file is missing, malformed, too open, or not the key the crops were sealed with."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def crop_spec(alignment: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """What decides an embedder's crop (method, margin, template, size); two embedders with the same
    spec take the same pixels."""
    spec: dict[str, Any] = {key: alignment[key] for key in ("method", "margin", "template") if key in alignment}
    spec["size"] = list(size)
    return spec


class CropVault:
    """Seals and opens crops with the key in ``key_file`` (created with mode 600 when ``create``)."""

    def __init__(self, key_file: Path, create: bool = True) -> None:
        self.key_file = key_file
        self._key = _load_key(key_file, create)
        self.key_id = hashlib.sha256(b"labgate-crop-key" + self._key).hexdigest()[:16]

    def seal(self, number: str, crop: np.ndarray, spec: dict[str, Any]) -> Sealed:
        ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError("the crop could not be encoded as PNG")
        header = json.dumps({"spec": spec}, sort_keys=True).encode()
        nonce = os.urandom(NONCE_BYTES)
        payload = len(header).to_bytes(4, "big") + header + png.tobytes()
        return Sealed(self.key_id, nonce, AESGCM(self._key).encrypt(nonce, payload, _aad(number, self.key_id)))

    def open(self, number: str, key_id: str, nonce: bytes, ciphertext: bytes) -> tuple[np.ndarray, dict[str, Any]]:
        """The crop (RGB uint8) and its spec; ``CropKeyError`` when this key cannot open it."""
        if key_id != self.key_id:
            raise CropKeyError(f"a crop of {number} was sealed with key {key_id}, not this kiosk's key "
                               f"{self.key_id} ({self.key_file}); restore that key file or re-enrol the person")
        try:
            payload = AESGCM(self._key).decrypt(nonce, ciphertext, _aad(number, key_id))
        except InvalidTag as exc:
            raise CropKeyError(f"a crop of {number} does not open with {self.key_file}: changed or not theirs") from exc
        size = int.from_bytes(payload[:4], "big")
        header = json.loads(payload[4:4 + size])
        bgr = cv2.imdecode(np.frombuffer(payload[4 + size:], np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CropKeyError(f"a crop of {number} opened but is not an image")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dict(header["spec"])


def _aad(number: str, key_id: str) -> bytes:
    return f"labgate-crop/1|{number}|{key_id}".encode()


def _load_key(path: Path, create: bool) -> bytes:
    if not path.exists():
        if not create:
            raise CropKeyError(f"crop key file {path} does not exist; the kept crops cannot be opened without it")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it just now
            return _load_key(path, create=False)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CropKeyError(f"crop key file {path} has mode {mode:o}: others can read it; run `chmod 600 {path}`")
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise CropKeyError(f"crop key file {path} holds {len(key)} bytes, not a {KEY_BYTES}-byte AES key")
    return key
