"""Bad files get a 4xx with a clear message and store nothing: a PDF bomb, an encrypted PDF, a
10,000-page PDF, an image whose header lies about its size, a file whose extension lies, a truncated
image. The checks run before anything is decoded; the time each refusal took is printed (-s)."""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

import pypdfium2 as pdfium
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select

from server.auth.roles import Role
from server.recruitment.tables import Application, ApplicationDocument
from tests.server.conftest import Person
from tests.server.recruitment.conftest import apply, png, transcript_pdf


def pdf_bomb() -> bytes:
    """About a megabyte whose one stream (a valid zlib stream) inflates to 1 GB of zeros: one deflate
    block of a megabyte of zeros, flushed to stand alone, repeated 1024 times."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    size = 1024 << 20
    adler = ((size % 65521) << 16) | 1  # adler32 of zeros: s1 stays 1, s2 counts the bytes
    stream = b"\x78\xda" + block * 1024 + zlib.compressobj(9, zlib.DEFLATED, -15).flush() + struct.pack(">I", adler)
    return (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
            b"4 0 obj\n<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n" + stream +
            b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def encrypted_pdf() -> bytes:
    buffer = io.BytesIO()
    page = Canvas(buffer, encrypt="rahasia")
    page.drawString(100, 700, "KARTU HASIL STUDI")
    page.showPage()
    page.save()
    return buffer.getvalue()


def many_pages(count: int = 10_000) -> bytes:
    document = pdfium.PdfDocument.new()
    for _ in range(count):
        document.new_page(595, 842)
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    return buffer.getvalue()


def lying_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A real small PNG whose header (with a correct CRC) claims ``width`` x ``height``."""
    data = bytearray(png(64, 64))
    header = struct.pack(">II", width, height)
    data[16:24] = header
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


CASES: dict[str, tuple[Callable[[], bytes], str, int, str]] = {
    "pdf bomb": (pdf_bomb, "khs.pdf", 422, "compression bomb"),
    "encrypted pdf": (encrypted_pdf, "khs.pdf", 422, "encrypted"),
    "10,000 pages": (many_pages, "khs.pdf", 422, "10,000 pages"),
    "header lies about its size": (lying_png, "khs.png", 422, "pixels"),
    "header lies about the data": (lambda: lying_png(400, 300), "khs.png", 422, "not a complete image"),
    "extension lies": (lambda: png(), "khs.pdf", 415, "named khs.pdf but its content is PNG"),
    "not a document at all": (lambda: b"MZ\x90\x00" + bytes(5000), "khs.pdf", 415, "not a PDF, JPEG or PNG"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_transcript_is_refused_with_a_clear_4xx_and_nothing_is_stored(
        case: str, app: FastAPI, client: TestClient, make_person: Callable[..., Person],
        open_vacancy: Callable[..., dict[str, Any]]) -> None:
    make, filename, status, words = CASES[case]
    vacancy = open_vacancy()
    student = make_person(Role.STUDENT)
    content = make()
    started = time.perf_counter()
    answer = apply(client, vacancy["id"], student, content, filename=filename)
    took = time.perf_counter() - started
    print(f"{case}: {len(content):,} bytes refused with {answer.status_code} in {took:.3f} s")
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert words in answer.json()["detail"], answer.json()["detail"]
    with app.state.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Application)) == 0
        assert session.scalar(select(func.count()).select_from(ApplicationDocument)) == 0
    folder = app.state.settings.data_dir / "recruitment"
    assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*")), "nothing is stored"
    # the student may still apply properly afterwards: nothing was half-stored
    fine = apply(client, vacancy["id"], student, transcript_pdf(2)[1])
    assert fine.status_code == 201, fine.text


def test_a_too_large_upload_is_413(client: TestClient, make_person: Callable[..., Person],
                                   open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy()
    answer = apply(client, vacancy["id"], make_person(Role.STUDENT), b"%PDF-1.4\n" + bytes(10_050_000))
    assert answer.status_code == 413, answer.text


def test_a_scan_that_cannot_be_read_goes_to_review_never_rejection(
        client: TestClient, make_person: Callable[..., Person], open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy(min_ipk=3.0, course_requirements=[{"code": "IF2110", "name": "Algoritma dan Struktur Data",
                                                              "min_grade": "B"}])
    for picture in (png(800, 1100, seed=3), png(4000, 160, seed=4)):  # noise; a strip no page is shaped like
        answer = apply(client, vacancy["id"], make_person(Role.STUDENT), picture, filename="foto.png")
        assert answer.status_code == 201, answer.text
        checked = answer.json()
        assert checked["outcome"] == "needs_review", checked["findings"]
        assert {r["status"] for r in checked["findings"]["requirements"]} == {"unreadable"}
