"""A QR code as a PNG ``data:`` URI for an ``<img>``: drawn by OpenCV's QR encoder (already a
dependency), scaled up without blur, with the quiet zone the standard asks for."""

from __future__ import annotations

import base64

import cv2
import numpy as np

QUIET = 4  # modules of white around the code


def data_uri(text: str, module_pixels: int = 6) -> tuple[str, int]:
    """(the data: URI, its width and height in pixels)."""
    modules = cv2.QRCodeEncoder.create().encode(text)
    if modules is None or modules.size == 0:
        raise ValueError("OpenCV could not encode this text as a QR code (too long?)")
    code = (modules > 0).astype(np.uint8) * 255 if modules.max() <= 1 else modules
    # OpenCV's encoder already adds a border; make sure there are at least QUIET modules of white
    code = cv2.copyMakeBorder(code, QUIET, QUIET, QUIET, QUIET, cv2.BORDER_CONSTANT, value=255)
    big = cv2.resize(code, None, fx=module_pixels, fy=module_pixels, interpolation=cv2.INTER_NEAREST)
    ok, png = cv2.imencode(".png", big)
    if not ok:
        raise ValueError("OpenCV could not write the QR code as PNG")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii"), int(big.shape[0])
