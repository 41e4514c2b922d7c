"""Getting words with boxes out of a transcript: a PDF's text layer when it has one, otherwise an image
(a scan, a phone photo, or a PDF page rendered) cleaned with OpenCV (the page found and its perspective
undone, deskewed, binarised) and read by tesseract (``tesseract-ocr`` and ``tesseract-ocr-ind``)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from collections.abc import Mapping

import cv2
import numpy as np

from server.core.errors import Invalid, Unavailable
from server.core.turns import Turns
from server.recruitment import transcript
from server.recruitment.files import PDF, PDFIUM
from server.recruitment.transcript import Reading, Word

TEXT_MIN_CHARS = 40  # a page with fewer characters in its text layer is treated as a scan
RENDER_DPI = 300
TARGET_WIDTH = 2480  # A4 at 300 dpi: smaller scans are enlarged to this before tesseract reads them
TESSERACT_TIMEOUT = 120
LANGUAGES = "ind+eng"
MAX_PIXELS = 40_000_000  # no page image (rendered, enlarged or turned) grows past this
MAX_ASPECT = 4.0  # a page is not a strip: longer than 4 x its width is refused before any work
TURNS = Turns(2, 300, "reading transcripts")  # OCR at once per process; each tesseract takes a core


def read(data: bytes, media_type: str, scale: Mapping[str, float]) -> Reading:
    """The courses and IPK of a transcript (PDF, JPEG or PNG already checked by ``files.inspect``)."""
    if media_type == PDF:
        return _read_pdf(data, scale)
    with TURNS.turn():
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise Invalid("the transcript image cannot be decoded; send the photo or scan again")
        return transcript.parse(ocr_words(clean(image)), scale, "ocr", 1)


def _read_pdf(data: bytes, scale: Mapping[str, float]) -> Reading:
    import pypdfium2 as pdfium

    with PDFIUM:
        document = pdfium.PdfDocument(data)
        pages = len(document)
    words: list[Word] = []
    scanned = False
    offset = 0.0
    try:
        for index in range(pages):
            with PDFIUM:
                page = document[index]
                width, height = page.get_size()
                page_words = _text_words(page, height)
            if sum(len(w.text) for w in page_words) < TEXT_MIN_CHARS:
                scanned = True
                zoom = min(RENDER_DPI / 72, (MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
                with TURNS.turn():
                    with PDFIUM:
                        bitmap = page.render(scale=zoom, grayscale=True).to_numpy().copy()
                    gray = bitmap if bitmap.ndim == 2 else cv2.cvtColor(bitmap, cv2.COLOR_BGR2GRAY)
                    found = ocr_words(clean(gray))
                page_words = [Word(w.text, w.x0 / zoom, w.y0 / zoom, w.x1 / zoom, w.y1 / zoom, w.conf) for w in found]
            with PDFIUM:
                page.close()  # here, under the lock, not by the garbage collector on another thread
            words.extend(Word(w.text, w.x0, w.y0 + offset, w.x1, w.y1 + offset, w.conf) for w in page_words)
            offset += height + 100
    finally:
        with PDFIUM:
            document.close()
    return transcript.parse(words, scale, "ocr" if scanned else "text", pages)


def _text_words(page: object, height: float) -> list[Word]:
    """Words of a page's text layer with their boxes (PDF points, y from the top)."""
    textpage = page.get_textpage()  # type: ignore[attr-defined]
    try:
        count = textpage.count_chars()
        words: list[Word] = []
        current: list[tuple[str, tuple[float, float, float, float]]] = []

        def flush() -> None:
            if current:
                boxes = [b for _, b in current]
                words.append(Word("".join(c for c, _ in current), min(b[0] for b in boxes),
                                  height - max(b[3] for b in boxes), max(b[2] for b in boxes),
                                  height - min(b[1] for b in boxes), 100.0))
                current.clear()

        previous_right: float | None = None
        for index in range(count):
            char = textpage.get_text_range(index, 1)
            if not char or char.isspace():
                flush()
                previous_right = None
                continue
            box = textpage.get_charbox(index)
            tall = max([box[3] - box[1], *(b[3] - b[1] for _, b in current)])
            if previous_right is not None and box[0] - previous_right > 0.6 * tall:
                flush()  # a wide gap with no space character: another column
            current.append((char, box))
            previous_right = box[2]
        flush()
        return words
    finally:
        textpage.close()


def clean(gray: np.ndarray) -> np.ndarray:
    """A page image made easy to read: the paper found and flattened, deskewed, enlarged to about
    300 dpi, binarised."""
    height, width = gray.shape[:2]
    if max(height, width) > MAX_ASPECT * min(height, width):
        raise Invalid(f"the image is {width} x {height} pixels: not the shape of a page")
    page = _flatten(gray)
    if page.shape[1] < TARGET_WIDTH * 0.9:
        factor = min(TARGET_WIDTH / page.shape[1], (MAX_PIXELS / (page.shape[0] * page.shape[1])) ** 0.5)
        page = cv2.resize(page, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    page = _deskew(page)
    page = cv2.GaussianBlur(page, (3, 3), 0)
    _, binary = cv2.threshold(page, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return binary


def _flatten(gray: np.ndarray) -> np.ndarray:
    """If the image shows a sheet of paper on a darker background (a phone photo), warp that sheet to
    a rectangle; otherwise the image is the page."""
    small_factor = 800 / max(gray.shape)
    small = cv2.resize(gray, None, fx=small_factor, fy=small_factor, interpolation=cv2.INTER_AREA)
    _, mask = cv2.threshold(cv2.GaussianBlur(small, (5, 5), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return gray
    biggest = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(biggest) / (small.shape[0] * small.shape[1])
    if not 0.2 < area < 0.93:
        return gray  # no sheet on a background: the image is the page
    quad = cv2.approxPolyDP(biggest, 0.02 * cv2.arcLength(biggest, True), True)
    if len(quad) != 4:
        return gray
    corners = _ordered(quad.reshape(4, 2).astype(np.float32) / small_factor)
    width = int(max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[3] - corners[2])))
    height = int(max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2])))
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    if min(width, height) < 100 or max(width, height) > MAX_ASPECT * min(width, height):
        return gray  # not a sheet after all
    matrix = cv2.getPerspectiveTransform(corners, target)
    return cv2.warpPerspective(gray, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=255)


def _ordered(points: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left."""
    total, diff = points.sum(axis=1), np.diff(points, axis=1).ravel()
    return np.array([points[np.argmin(total)], points[np.argmin(diff)], points[np.argmax(total)],
                     points[np.argmax(diff)]], np.float32)


def _deskew(gray: np.ndarray) -> np.ndarray:
    """Rotate by the angle (within ±6°) at which the ink's rows are sharpest (a projection profile)."""
    factor = 1000 / max(gray.shape)
    small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    _, ink = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    centre = (ink.shape[1] / 2, ink.shape[0] / 2)

    def sharpness(angle: float) -> float:
        turned = cv2.warpAffine(ink, cv2.getRotationMatrix2D(centre, angle, 1.0), (ink.shape[1], ink.shape[0]))
        profile = turned.sum(axis=1, dtype=np.float64)
        return float(np.var(profile))

    coarse = max(np.arange(-6.0, 6.01, 0.5), key=sharpness)
    best = float(max(np.arange(coarse - 0.5, coarse + 0.51, 0.1), key=sharpness))
    if abs(best) < 0.05:
        return gray
    matrix = cv2.getRotationMatrix2D((gray.shape[1] / 2, gray.shape[0] / 2), best, 1.0)
    return cv2.warpAffine(gray, matrix, (gray.shape[1], gray.shape[0]), flags=cv2.INTER_CUBIC, borderValue=255)


def ocr_words(image: np.ndarray) -> list[Word]:
    """tesseract's words (TSV: boxes and confidences) of a cleaned page image."""
    binary = shutil.which("tesseract")
    if binary is None:
        raise Unavailable("tesseract is not installed on the server; run `make system` (tesseract-ocr, "
                          "tesseract-ocr-ind)")
    ok, png = cv2.imencode(".png", image)
    assert ok
    try:
        done = subprocess.run([binary, "stdin", "stdout", "-l", LANGUAGES, "--psm", "6", "--dpi", "300", "tsv"],
                              input=png.tobytes(), capture_output=True, timeout=TESSERACT_TIMEOUT, check=False,
                              env={**os.environ, "OMP_THREAD_LIMIT": "1"})  # threads only slow it on a busy server
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"tesseract took over {TESSERACT_TIMEOUT} s on one page; try a smaller scan") from exc
    if done.returncode != 0:
        raise Unavailable(f"tesseract failed: {done.stderr.decode(errors='replace')[-300:]}")
    words: list[Word] = []
    for row in csv.DictReader(io.StringIO(done.stdout.decode("utf-8", errors="replace")), delimiter="\t",
                              quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        left, top, width, height = (float(row[k]) for k in ("left", "top", "width", "height"))
        words.append(Word(text, left, top, left + width, top + height, float(row.get("conf") or 0)))
    return words
