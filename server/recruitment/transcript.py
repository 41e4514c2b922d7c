"""Reading a transcript (KHS): words with boxes become rows, rows become courses, plus the IPK/IPS lines.

Words come from a PDF's text layer (``pdf_words``) or from tesseract (``server.recruitment.ocr``). A
course row is a course code, then its name, then the row's tail of numbers and a letter grade; the
header's column order (SKS, weight, quality points) says which number is which, and the numbers check
each other (weight = the grade's weight, points = SKS x weight): a row whose numbers disagree with its
grade is kept but marked inconsistent, never trusted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median

CODE = re.compile(r"^([A-Z]{2,5})[-\s]?([0-9]{3,5}[A-Z]?)$")
DAMAGED_CODE = re.compile(r"^([A-Z]{1,5})([0-9]{3,5}[A-Z]?)$")
CODE_DIGITS = re.compile(r"^[0-9OIlSBZ]{3,5}[A-Z]?$")
ROW_NUMBER = re.compile(r"[0-9lI|§]{1,3}\.?")
NUMBER = re.compile(r"^\d{1,3}(?:[.,]\d{1,2})?$")
IPK_LINE = re.compile(r"(?i)\b(IPK|GPA|Indeks\s+Prestasi\s+Kumulatif|Cumulative\s+GPA)\b\D{0,12}?(\d)\s?[.,]\s?(\d{2})")
IPS_LINE = re.compile(r"(?i)\b(IPS|Indeks\s+Prestasi\s+Semester|Semester\s+GPA)\b\D{0,12}?(\d)\s?[.,]\s?(\d{2})")
HEADER_WORDS = {
    "sks": "sks", "kredit": "sks", "credits": "sks", "credit": "sks",
    "bobot": "weight", "angka": "weight", "weight": "weight",
    "mutu": "points", "points": "points", "kxn": "points", "nxk": "points",
    "huruf": "grade", "grade": "grade", "nilai": "grade",
    "kode": "code", "code": "code",
}
TO_DIGIT = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "|": "1", "S": "5", "B": "8", "Z": "2"})
TO_LETTER = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z"})


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float  # top (y grows downwards)
    x1: float
    y1: float
    conf: float  # 0..100; 100 for a PDF's text layer


@dataclass
class Course:
    code: str
    name: str
    sks: int | None
    grade: str | None
    weight: float | None  # as printed
    points: float | None  # as printed
    line: str
    confidence: float
    consistent: bool = True  # the printed numbers agree with the grade


@dataclass
class Reading:
    source: str  # text | ocr
    pages: int
    courses: list[Course] = field(default_factory=list)
    ipk: float | None = None
    ipk_line: str | None = None
    ipk_confidence: float | None = None
    ips: list[float] = field(default_factory=list)
    confidence: float = 100.0  # the mean word confidence

    def course(self, code: str) -> Course | None:
        found = [c for c in self.courses if c.code == code]
        return found[-1] if found else None  # a course taken again: the latest row holds

    def recomputed_ipk(self, scale: Mapping[str, float]) -> float | None:
        latest = {c.code: c for c in self.courses}
        credit = points = 0.0
        for course in latest.values():
            value = scale.get(course.grade or "")
            if course.sks is None or value is None:
                return None  # a course we cannot read: no recomputed IPK rather than a wrong one
            credit += course.sks
            points += course.sks * value
        return round(points / credit + 1e-9, 2) if credit else None


def rows(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped into lines by their vertical centres, each line left to right."""
    if not words:
        return []
    height = median(w.y1 - w.y0 for w in words) or 1.0
    lines: list[list[Word]] = []
    centres: list[float] = []
    for word in sorted(words, key=lambda w: (w.y0 + w.y1) / 2):
        centre = (word.y0 + word.y1) / 2
        if lines and abs(centre - centres[-1]) <= 0.5 * height:
            lines[-1].append(word)
            centres[-1] = sum((w.y0 + w.y1) / 2 for w in lines[-1]) / len(lines[-1])
        else:
            lines.append([word])
            centres.append(centre)
    return [sorted(line, key=lambda w: w.x0) for line in lines]


def parse(words: Sequence[Word], scale: Mapping[str, float], source: str, pages: int) -> Reading:
    reading = Reading(source=source, pages=pages)
    order = ["sks", "weight", "points"]  # numbers left to right when no header says otherwise
    confidences = [w.conf for w in words if w.conf >= 0]
    reading.confidence = round(sum(confidences) / len(confidences), 1) if confidences else 0.0
    for line in rows(words):
        text = " ".join(w.text for w in line)
        header = _header_order(line)
        if header:
            order = header
            continue
        course = _course(line, scale, order)
        if course is not None:
            reading.courses.append(course)
            continue
        if (found := IPK_LINE.search(text)) and reading.ipk is None:
            reading.ipk = float(f"{found.group(2)}.{found.group(3)}")
            reading.ipk_line = text
            reading.ipk_confidence = min(w.conf for w in line)
        elif found_ips := IPS_LINE.search(text):
            reading.ips.append(float(f"{found_ips.group(2)}.{found_ips.group(3)}"))
    return reading


def _header_order(line: Sequence[Word]) -> list[str] | None:
    kinds = [_header_word(re.sub(r"[^a-z]", "", w.text.lower())) for w in line]
    found = [k for k in kinds if k]
    if len(set(found)) < 3 or "sks" not in found:
        return None
    numeric = []
    for kind in found:
        if kind in ("sks", "weight", "points") and kind not in numeric:
            numeric.append(kind)
    return numeric


def _header_word(text: str) -> str | None:
    """A header word, or one OCR got a letter wrong in (``szs`` for ``sks``)."""
    if text in HEADER_WORDS:
        return HEADER_WORDS[text]
    close = [kind for word, kind in HEADER_WORDS.items() if len(word) == len(text) >= 3
             and sum(a != b for a, b in zip(word, text, strict=True)) == 1]
    return close[0] if len(set(close)) == 1 else None


def _code(tokens: list[str]) -> tuple[str, int] | None:
    """The course code at the start of a row (possibly split in two words), OCR's look-alikes mended:
    (code, words used). A code OCR damaged (``F1101``, ``IR2110``) is still a row: the course is then
    found by its name."""
    tokens = [t.upper() if len(t) <= 12 else t for t in tokens[:2]]
    for used in (1, 2):
        if len(tokens) < used:
            return None
        if used == 2 and not (re.fullmatch(r"[A-Z][A-Z0-9]{0,4}", tokens[0]) and CODE_DIGITS.match(tokens[1])):
            return None  # a code in two words is letters, then digits
        raw = "".join(tokens[:used]).replace("-", "")
        split = re.match(r"^([A-Z0-9]{1,5}?)([0-9OISBZ]{3,5}[A-Z]?)$", raw)
        if not split:
            continue
        letters, digits = split.group(1).translate(TO_LETTER), split.group(2)
        digits = digits[:-1].translate(TO_DIGIT) + digits[-1:] if not digits[-1].isdigit() and len(digits) > 3 and \
            digits[-1] not in "OIlSBZ" else digits.translate(TO_DIGIT)
        code = letters + digits
        if DAMAGED_CODE.match(code) and letters.isalpha():
            return code, used
    return None


def _grade(text: str, scale: Mapping[str, float]) -> str | None:
    """A letter grade on ``scale``, mending OCR's doubled letter (``Cc`` for ``C``)."""
    upper = text.strip().upper()
    if upper in scale:
        return upper
    if len(upper) == 2 and upper[0] == upper[1] and upper[0] in scale:
        return upper[0]
    if len(upper) == 2 and upper[1] in "T4" and upper[0] + "+" in scale:  # OCR's t or 4 for a plus
        return upper[0] + "+"
    return None


def _number(text: str) -> float | None:
    text = text.strip().rstrip(".")
    if not NUMBER.match(text):
        return None
    return float(text.replace(",", "."))


def _by_form(texts: Sequence[str], numbers: Sequence[float], scale: Mapping[str, float],
             grade: str | None) -> dict[str, float]:
    whole = [n for t, n in zip(texts, numbers, strict=True) if not re.search(r"[.,]", t)]
    parts = [n for t, n in zip(texts, numbers, strict=True) if re.search(r"[.,]", t)]
    if len(whole) != 1:
        return {}
    values = {"sks": whole[0]}
    if len(parts) == 2:
        values.update(weight=parts[0], points=parts[1])
    elif len(parts) == 1 and grade is not None:
        if abs(parts[0] - scale[grade]) < 0.005:
            values["weight"] = parts[0]
        elif abs(parts[0] - whole[0] * scale[grade]) < 0.015:
            values["points"] = parts[0]
        else:
            values["points"] = parts[0]  # disagrees with the grade either way: marked inconsistent below
    return values


def _course(line: Sequence[Word], scale: Mapping[str, float], order: Sequence[str]) -> Course | None:
    tokens = [w.text.strip() for w in line if w.text.strip() not in ("|", "")]
    if len(tokens) > 1 and ROW_NUMBER.fullmatch(tokens[0]):
        tokens = tokens[1:]  # the row's number (OCR may read 1 as l or I)
    code = _code(tokens)
    if code is None:
        return None
    rest = tokens[code[1]:]
    tail: list[str] = []
    while rest and (_number(rest[-1]) is not None or _grade(rest[-1], scale)):
        tail.insert(0, rest.pop())
    numbers = [n for t in tail if (n := _number(t)) is not None]
    grades = [g for t in tail if _number(t) is None and (g := _grade(t, scale))]
    if not numbers:
        return None
    grade = grades[-1] if grades else None
    while tail and _number(tail[0]) is None and len(grades) > 1:  # a name ending in a letter (Kelas A)
        rest.append(tail.pop(0))
        grades.pop(0)
    texts = [t for t in tail if _number(t) is not None]
    if len(numbers) == len(order):  # the header's columns, left to right
        values: dict[str, float] = dict(zip(order, numbers, strict=True))
    else:  # no header read (or a number missed): by form, SKS without decimals, then weight and points
        values = _by_form(texts, numbers, scale, grade)
    sks_value = values.get("sks")
    sks = int(sks_value) if sks_value is not None and sks_value == int(sks_value) and 0 < sks_value <= 8 else None
    weight, points = values.get("weight"), values.get("points")
    consistent = True
    if grade is not None and weight is not None and abs(scale[grade] - weight) > 0.005:
        consistent = False
    if grade is None and weight is not None and points is not None:  # the letter unread: its weight names it
        letters = [g for g, w in scale.items() if abs(w - weight) < 0.005]
        grade = letters[0] if len(letters) == 1 else None
    if sks is not None and grade is not None and points is not None and abs(sks * scale[grade] - points) > 0.015:
        consistent = False
    if grade is not None and weight is not None and points is not None and sks is not None and \
            abs(sks * weight - points) > 0.015:
        consistent = False
    confidence = min(w.conf for w in line)
    return Course(code=code[0], name=" ".join(rest), sks=sks, grade=grade, weight=weight, points=points,
                  line=" ".join(tokens), confidence=confidence, consistent=consistent and sks is not None)
