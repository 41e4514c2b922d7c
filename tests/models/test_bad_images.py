"""Bad images never crash or hang: each gives a clear error or "no face" within a second."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from models.engine import NoFace
from models.images import ImageError, read_image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _huge_png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, with a tiny (wrong) data chunk."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + data + chunk(b"IEND", b"")


def _jpeg_of_noise() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


CASES = {
    "empty": (b"", ImageError, "empty"),
    "truncated": (_jpeg_of_noise()[:300], ImageError, "truncated or corrupt"),
    "not an image": (b"%PDF-1.4 this is a document, not a photo" * 10, ImageError, "not an image"),
    "huge header": (_huge_png_header(30000, 30000), ImageError, "Mpx limit"),
    "1x1": (_png(Image.new("RGB", (1, 1), (200, 150, 120))), NoFace, "no face"),
    "grey": (_png(Image.new("L", (320, 240), 128)), NoFace, "no face"),
    "rgba": (_png(Image.new("RGBA", (320, 240), (10, 20, 30, 0))), NoFace, "no face"),
    "16-bit": (_png(Image.fromarray(np.full((240, 320), 40000, dtype=np.uint16))), NoFace, "no face"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_image_gives_clear_error_quickly(engine, case: str) -> None:  # type: ignore[no-untyped-def]
    data, expected, words = CASES[case]
    start = time.perf_counter()
    with pytest.raises(expected) as caught:
        engine.embed_photo(read_image(data))
    elapsed = time.perf_counter() - start
    assert words in str(caught.value)
    assert elapsed < 1.0, f"{case} took {elapsed:.2f} s"


def test_real_face_survives_mode_conversions(engine, data_dir) -> None:  # type: ignore[no-untyped-def]
    """RGBA, grey and 16-bit versions of a real photo still give a face (decoding keeps the content)."""
    photo = Image.open(data_dir / "lfw_micro" / "images_flat" / "Abel_Pacheco_0001.jpg")
    grey16 = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257)
    for variant in (photo.convert("RGBA"), photo.convert("L"), grey16):
        result = engine.embed_photo(read_image(_png(variant)), check_quality=False)
        assert result.embedding is not None and abs(float(np.linalg.norm(result.embedding)) - 1) < 1e-4


def test_missing_file_and_directory_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="is a directory"):
        read_image(tmp_path)
