"""What an uploaded file is, checked before anything decodes it: the type from its first bytes (not
its name), the size, a PDF's encryption, pages and how far its streams inflate, an image's pixels.

``inspect`` raises a 4xx service error with a message that says what was wrong; it never decodes more
than ``INFLATE_LIMIT`` bytes of any stream nor renders a page.
"""

from __future__ import annotations

import re
import threading
import zlib
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, UnidentifiedImageError

from server.core.errors import Invalid, TooLarge, UnsupportedType

PDFIUM = threading.RLock()
"""pdfium (pypdfium2) is not thread-safe: one call into it at a time in the process (concurrent
applications crashed the server with a segmentation fault)."""

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
SUFFIX = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
EXTENSIONS = {"pdf": PDF, "jpg": JPEG, "jpeg": JPEG, "png": PNG}
MAX_BYTES = 10_000_000
MAX_PAGES = 20
MAX_PIXELS = 40_000_000
INFLATE_LIMIT = 25_000_000  # all Flate streams of a PDF together, inflated (scans are usually JPEG: not counted)
INFLATE_STEP = 1 << 20
STREAM = re.compile(rb"stream\r?\n")


@dataclass(frozen=True)
class Checked:
    media_type: str
    suffix: str
    pages: int  # 1 for an image


def sniff(data: bytes) -> str | None:
    head = data[:1024]
    if b"%PDF-" in head:
        return PDF
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    return None


def inspect(data: bytes, filename: str, what: str, *, allow_pdf: bool = True, max_bytes: int = MAX_BYTES,
            max_pages: int = MAX_PAGES, max_pixels: int = MAX_PIXELS) -> Checked:
    if len(data) > max_bytes:
        raise TooLarge(f"{what} is {len(data):,} bytes; the limit is {max_bytes:,}")
    if not data:
        raise Invalid(f"{what} is empty; send the file itself")
    kind = sniff(data)
    allowed = "PDF, JPEG or PNG" if allow_pdf else "JPEG or PNG"
    if kind is None or (kind == PDF and not allow_pdf):
        raise UnsupportedType(f"{what} ({filename}) is not a {allowed} file by its content; send one of those")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension and EXTENSIONS.get(extension) != kind:
        raise UnsupportedType(f"{what} is named {filename} but its content is {SUFFIX[kind].upper()}; "
                              "the name and the content must agree")
    if kind == PDF:
        return Checked(kind, "pdf", _pdf(data, what, max_pages))
    _image(data, what, max_pixels)
    return Checked(kind, SUFFIX[kind], 1)


def _pdf(data: bytes, what: str, max_pages: int) -> int:
    if b"/Encrypt" in data:
        raise Invalid(f"{what} is an encrypted PDF; send it without a password or encryption")
    _bounded_inflation(data, what)
    import pypdfium2 as pdfium

    with PDFIUM:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise Invalid(f"{what} is not a readable PDF ({exc}); export it again and resend") from exc
        try:
            pages = len(document)
            if pages < 1:
                raise Invalid(f"{what} has no pages")
            if pages > max_pages:
                raise Invalid(f"{what} has {pages:,} pages; at most {max_pages} are accepted")
            for index in range(pages):
                page = document[index]
                width, height = page.get_size()
                page.close()  # here, under the lock, not by the garbage collector on another thread
                if width * height > 2000.0 * 2000.0 or width <= 0 or height <= 0:  # points; A4 is 595 x 842
                    raise Invalid(f"{what}: page {index + 1} is {width:.0f} x {height:.0f} points, far beyond a "
                                  "paper page")
            return pages
        finally:
            document.close()


def _bounded_inflation(data: bytes, what: str) -> None:
    """Inflate every Flate stream at most to what is left of the budget: a PDF bomb (a few kilobytes
    that inflate to gigabytes) is refused after ``INFLATE_LIMIT`` bytes, never expanded in full."""
    budget = INFLATE_LIMIT
    for match in STREAM.finditer(data):
        start = match.end()
        inflater = zlib.decompressobj()
        try:
            chunk = inflater.decompress(data[start:start + 4_000_000], INFLATE_STEP)
        except zlib.error:
            continue  # not Flate (an image's DCT, or plain): its size is its size
        budget -= len(chunk)
        while budget >= 0 and inflater.unconsumed_tail:
            try:
                more = inflater.decompress(inflater.unconsumed_tail, INFLATE_STEP)
            except zlib.error:
                break
            if not more:
                break
            budget -= len(more)
        if budget < 0:
            raise Invalid(f"{what} inflates to more than {INFLATE_LIMIT:,} bytes (a compression bomb); "
                          "send an ordinary PDF")


def _image(data: bytes, what: str, max_pixels: int) -> None:
    try:
        with Image.open(BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise Invalid(f"{what} says it is {width} x {height} pixels; at most {max_pixels:,} pixels")
            image.load()
            if image.size != (width, height):
                raise Invalid(f"{what}'s header and its pixels disagree")
    except Image.DecompressionBombError as exc:
        raise Invalid(f"{what}'s header claims more than {max_pixels:,} pixels ({exc}); send a smaller image") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Invalid(f"{what} is not a complete image ({exc}); send the photo again") from exc
