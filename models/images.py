"""Decode untrusted image bytes or files into RGB uint8 arrays, safely.

The header is read first and the pixel count checked before anything is decoded, so an image that
claims 30000x30000 pixels is refused in milliseconds instead of allocating gigabytes. Every failure
is an ``ImageError`` that says what was wrong.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # a 48 Mpx phone photo is ~8000x6000; bigger is refused
MAX_BYTES = 50_000_000

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # PIL's own bomb check, as a second line of defence


class ImageError(ValueError):
    """The input is not an image we can use; the message says why."""


def read_image(source: bytes | Path | str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """RGB uint8 (H, W, 3) from bytes or a path; EXIF rotation applied, alpha dropped."""
    name, data = _read(source)
    if len(data) == 0:
        raise ImageError(f"{name} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width < 1 or height < 1:
                raise ImageError(f"{name} has no pixels ({width}x{height})")
            if width * height > max_pixels:
                raise ImageError(
                    f"{name} is {width}x{height} = {width * height / 1e6:.0f} Mpx, over the "
                    f"{max_pixels / 1e6:.0f} Mpx limit; resize it before use"
                )
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # in place: a copy of a 40 Mpx image is 160 MB more
            return _to_rgb(image)
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name} is not an image in a format we read (JPEG, PNG, BMP, PGM, WebP, TIFF)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name} is over the {max_pixels / 1e6:.0f} Mpx limit and was not decoded ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated data, broken headers
        raise ImageError(f"{name} could not be decoded ({exc}); the file may be truncated or corrupt") from exc


def _read(source: bytes | Path | str) -> tuple[str, bytes]:
    if isinstance(source, bytes):
        if len(source) > MAX_BYTES:
            raise ImageError(f"image data is {len(source)} bytes, over the {MAX_BYTES} byte limit")
        return "image", source
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ImageError(f"{path} is {size} bytes, over the {MAX_BYTES} byte limit")
        return str(path), path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"{path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"{path} is a directory, not an image") from exc


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode to RGB uint8: 16-bit grey scaled by 1/257, 32-bit and float by their range."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            grey = np.clip(array / 257.0, 0, 255).astype(np.uint8)
        else:
            low, high = float(array.min()), float(array.max())
            span = high - low if high > low else 1.0
            grey = np.clip((array - low) / span * 255.0, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
