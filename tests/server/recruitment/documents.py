"""Transcripts (KHS) made up for the tests: invented students and courses, drawn with reportlab in three
layouts and three fonts as born-digital PDFs, and turned into scans (rendered at 150-300 dpi, rotated
up to ±5°, blurred, perspective-warped onto a desk, JPEG-compressed), each with its truth. Nothing here
is a real person's document. ``bench/transcripts.py`` uses the same set."""

from __future__ import annotations

import io
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from server.recruitment.grades import LETTER_SCALE, PLUS_MINUS_SCALE

COURSES = [
    ("IF1210", "Dasar Pemrograman"), ("IF2110", "Algoritma dan Struktur Data"), ("IF2120", "Matematika Diskrit"),
    ("IF2130", "Organisasi dan Arsitektur Komputer"), ("IF2210", "Pemrograman Berorientasi Objek"),
    ("IF2211", "Strategi Algoritma"), ("IF2220", "Probabilitas dan Statistika"), ("IF2230", "Sistem Operasi"),
    ("IF2240", "Basis Data"), ("IF2250", "Rekayasa Perangkat Lunak"), ("IF3110", "Pengembangan Aplikasi Web"),
    ("IF3130", "Jaringan Komputer"), ("IF3140", "Manajemen Basis Data"), ("IF3170", "Inteligensi Artifisial"),
    ("IF3150", "Manajemen Proyek Perangkat Lunak"), ("IF3260", "Grafika Komputer"), ("MA1101", "Matematika Dasar I"),
    ("MA1201", "Matematika Dasar II"), ("FI1101", "Fisika Dasar I"), ("KU1102", "Pengenalan Komputasi"),
    ("KU1011", "Tata Tulis Karya Ilmiah"), ("KU2071", "Pancasila"), ("KU2061", "Agama dan Etika"),
    ("EL2101", "Rangkaian Listrik"), ("TI3005", "Analisis Data Bisnis"), ("SI2101", "Sistem Informasi"),
    ("IF4020", "Kriptografi"), ("IF4070", "Representasi Pengetahuan"), ("IF3270", "Pembelajaran Mesin"),
    ("IF3230", "Sistem Paralel dan Terdistribusi"),
]
FIRST = ["Siti", "Budi", "Ayu", "Rizky", "Dewi", "Fajar", "Putri", "Agus", "Nanda", "Wulan", "Dimas", "Intan"]
LAST = ["Rahma", "Santoso", "Lestari", "Pratama", "Wibowo", "Kusuma", "Hidayat", "Saputra", "Anggraini"]
FONTS = [("Helvetica", "Helvetica-Bold"), ("Times-Roman", "Times-Bold"), ("Courier", "Courier-Bold")]
LAYOUTS = ("table", "compact", "english")


@dataclass
class Truth:
    layout: str
    font: str
    scale: str  # AB | plus-minus
    name: str
    number: str
    courses: list[dict[str, Any]] = field(default_factory=list)  # code, name, sks, grade
    ipk: float = 0.0

    def json(self) -> dict[str, Any]:
        return asdict(self)


def make_truth(seed: int, layout: str | None = None, font: str | None = None) -> Truth:
    rng = random.Random(seed)
    layout = layout or LAYOUTS[seed % len(LAYOUTS)]
    font = font or FONTS[(seed // len(LAYOUTS)) % len(FONTS)][0]
    scale_name = "plus-minus" if layout == "english" else "AB"
    scale = PLUS_MINUS_SCALE if layout == "english" else LETTER_SCALE
    letters = list(scale)
    weights = [6, 5, 5, 4, 3, 2, 2, 1, 1, 1][:len(letters)]
    truth = Truth(layout=layout, font=font, scale=scale_name, name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                  number=f"1352{rng.randrange(10**6):06d}")
    for code, name in rng.sample(COURSES, rng.randint(10, 15)):
        truth.courses.append({"code": code, "name": name, "sks": rng.choice([2, 2, 3, 3, 3, 4]),
                              "grade": rng.choices(letters, weights)[0]})
    credits = sum(c["sks"] for c in truth.courses)
    truth.ipk = round(sum(c["sks"] * scale[c["grade"]] for c in truth.courses) / credits + 1e-9, 2)
    return truth


def pdf(truth: Truth) -> bytes:
    """The born-digital PDF of a transcript."""
    scale = PLUS_MINUS_SCALE if truth.scale == "plus-minus" else LETTER_SCALE
    regular, bold = next(f for f in FONTS if f[0] == truth.font)
    buffer = io.BytesIO()
    page = Canvas(buffer, pagesize=A4, invariant=True)
    width, height = A4
    y = height - 60
    english = truth.layout == "english"
    page.setFont(bold, 14)
    page.drawCentredString(width / 2, y, "ACADEMIC TRANSCRIPT" if english else "KARTU HASIL STUDI (KHS)")
    y -= 18
    page.setFont(regular, 10)
    page.drawCentredString(width / 2, y, "Faculty of Computing, Universitas Contoh" if english else
                           "Fakultas Ilmu Komputer, Universitas Contoh")
    y -= 30
    page.drawString(50, y, f"{'Name' if english else 'Nama'}: {truth.name}")
    page.drawString(330, y, f"{'Student ID' if english else 'NIM'}: {truth.number}")
    y -= 30
    if truth.layout == "table":
        columns = [("No", 50), ("Kode", 75), ("Mata Kuliah", 130), ("SKS", 365), ("Nilai", 400), ("Bobot", 445),
                   ("Mutu", 495)]
    elif truth.layout == "compact":
        columns = [("Kode MK", 50), ("Nama Mata Kuliah", 125), ("Nilai", 390), ("SKS", 440), ("Bobot", 490)]
    else:
        columns = [("Code", 50), ("Course Title", 120), ("Credits", 370), ("Grade", 430), ("Points", 490)]
    page.setFont(bold, 10)
    for title, x in columns:
        page.drawString(x, y, title)
    page.line(45, y - 5, width - 45, y - 5)
    y -= 20
    page.setFont(regular, 10)
    for index, course in enumerate(truth.courses, 1):
        weight = scale[course["grade"]]
        if truth.layout == "table":
            cells = [str(index), course["code"], course["name"], str(course["sks"]), course["grade"], f"{weight:.2f}",
                     f"{weight * course['sks']:.2f}"]
        elif truth.layout == "compact":
            cells = [f"{course['code'][:2]} {course['code'][2:]}", course["name"], course["grade"], str(course["sks"]),
                     f"{weight:.2f}".replace(".", ",")]
        else:
            cells = [course["code"], course["name"], str(course["sks"]), course["grade"],
                     f"{weight * course['sks']:.2f}"]
        for (_, x), cell in zip(columns, cells, strict=True):
            page.drawString(x, y, cell)
        y -= 17
    page.line(45, y + 8, width - 45, y + 8)
    y -= 14
    credits = sum(c["sks"] for c in truth.courses)
    if truth.layout == "table":
        page.drawString(50, y, f"Total SKS: {credits}")
        page.drawString(330, y, f"IPK: {truth.ipk:.2f}")
    elif truth.layout == "compact":
        page.drawString(50, y, f"Jumlah SKS : {credits}")
        y -= 17
        page.drawString(50, y, f"Indeks Prestasi Kumulatif (IPK) : {truth.ipk:.2f}".replace(".", ","))
    else:
        page.drawString(50, y, f"Total Credits: {credits}")
        page.drawString(330, y, f"Cumulative GPA: {truth.ipk:.2f}")
    page.drawString(330, 90, "Registrar" if english else "Kepala Bagian Akademik")
    page.showPage()
    page.save()
    return buffer.getvalue()


def scan(document: bytes, seed: int, dpi: int | None = None) -> tuple[bytes, dict[str, Any]]:
    """A photo or scan of the printed PDF: rendered at ``dpi`` (150-300), on a desk, rotated, warped,
    blurred and JPEG-compressed; returns the JPEG and what was done to it."""
    import pypdfium2 as pdfium

    rng = random.Random(seed * 7919 + 1)
    dpi = dpi or rng.choice([150, 200, 250, 300])
    pdf_doc = pdfium.PdfDocument(document)
    try:
        page = pdf_doc[0].render(scale=dpi / 72, grayscale=True).to_numpy().copy()  # the buffer belongs to pdfium
    finally:
        pdf_doc.close()
    gray = page if page.ndim == 2 else cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    angle = rng.uniform(-5, 5)
    warped = rng.random() < 0.5
    margin = int(0.08 * w) if warped else 0
    canvas = np.full((h + 2 * margin, w + 2 * margin), 90 if warped else 255, np.uint8)
    canvas[margin:margin + h, margin:margin + w] = gray
    if warped:  # a phone photo: the sheet on a darker desk, seen slightly from the side
        jitter = [rng.uniform(-0.035, 0.035) * w for _ in range(8)]
        src = np.array([[margin, margin], [margin + w, margin], [margin + w, margin + h], [margin, margin + h]],
                       np.float32)
        dst = (src + np.array(jitter, np.float32).reshape(4, 2)).astype(np.float32)
        matrix = cv2.getPerspectiveTransform(src, dst)
        canvas = cv2.warpPerspective(canvas, matrix, (canvas.shape[1], canvas.shape[0]), borderValue=90)
    rotation = cv2.getRotationMatrix2D((canvas.shape[1] / 2, canvas.shape[0] / 2), angle, 1.0)
    canvas = cv2.warpAffine(canvas, rotation, (canvas.shape[1], canvas.shape[0]), flags=cv2.INTER_LINEAR,
                            borderValue=90 if warped else 255)
    blur = rng.choice([0, 1, 1.2])
    if blur:
        canvas = cv2.GaussianBlur(canvas, (0, 0), blur)
    noise = np.random.default_rng(seed).normal(0, 4, canvas.shape)
    canvas = np.clip(canvas.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    quality = rng.choice([60, 75, 90])
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return jpeg.tobytes(), {"dpi": dpi, "angle": round(angle, 2), "warped": warped, "blur": blur, "jpeg": quality}


def scale_of(truth: Truth) -> dict[str, float]:
    return PLUS_MINUS_SCALE if truth.scale == "plus-minus" else LETTER_SCALE
