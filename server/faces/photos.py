"""Check an uploaded photo's type by its first bytes and decode it safely (bombs refused unread)."""

from __future__ import annotations

import numpy as np

from models.images import ImageError, read_image
from server.core.errors import Invalid, UnsupportedType

ACCEPTED = "JPEG, PNG, WebP or BMP"
DECLARED = {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/x-ms-bmp", "application/octet-stream"}

SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"BM", "BMP"),
)
LOOKS_LIKE = (
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"), (b"GIF8", "a GIF"),
    (b"\x1f\x8b", "gzip data"), (b"<", "text or HTML"), (b"{", "JSON"),
)


def sniff(data: bytes) -> str | None:
    for signature, kind in SIGNATURES:
        if data.startswith(signature):
            return kind
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def decode(data: bytes, filename: str, content_type: str | None, max_pixels: int) -> np.ndarray:
    """RGB uint8 pixels of an accepted photo; ``UnsupportedType`` or ``Invalid`` saying why not."""
    name = filename or "the photo"
    declared = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    if declared not in DECLARED:
        raise UnsupportedType(f"{name} was sent as {declared}; send a {ACCEPTED} photo (image/jpeg, image/png, ...)")
    if not data:
        raise Invalid(f"{name} is empty (0 bytes)")
    kind = sniff(data)
    if kind is None:
        guess = next((what for prefix, what in LOOKS_LIKE if data.startswith(prefix)), "not a known image format")
        raise UnsupportedType(f"{name} is not a {ACCEPTED} image (its content looks like {guess})")
    try:
        return read_image(data, max_pixels=max_pixels)
    except ImageError as exc:
        raise Invalid(f"{name} ({kind}) cannot be used: {exc}") from exc
