"""Reading transcripts on a test set made here: 30 transcripts in 3 layouts and 3 fonts, each as a
born-digital PDF and as a scan (150-300 dpi, rotated up to ±5°, blurred, perspective-warped, JPEG),
with their truth written as JSON. Prints per-course grade accuracy and IPK accuracy by layout;
asserts at least 99 % of grades right on PDFs with text, 95 % on scans, and that no requirement is
reported met that is not (IPK thresholds and minimum grades at, just above and just below the truth)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from server.recruitment import check, ocr
from server.recruitment.transcript import Reading
from tests.server.recruitment import documents

COUNT = 30


def _set(folder: Path) -> list[tuple[documents.Truth, bytes, bytes, dict[str, Any]]]:
    made = []
    for seed in range(COUNT):
        truth = documents.make_truth(seed)
        pdf = documents.pdf(truth)
        scan, how = documents.scan(pdf, seed)
        (folder / f"khs-{seed:02d}.pdf").write_bytes(pdf)
        (folder / f"khs-{seed:02d}.jpg").write_bytes(scan)
        (folder / f"khs-{seed:02d}.json").write_text(json.dumps({**truth.json(), "scan": how}, indent=1))
        made.append((truth, pdf, scan, how))
    return made


def _score(truth: documents.Truth, reading: Reading) -> tuple[int, bool]:
    right = 0
    for course in truth.courses:
        found, _ = check.find(reading, course["code"], course["name"])
        right += bool(found and found.grade == course["grade"] and found.sks == course["sks"])
    return right, reading.ipk == truth.ipk


def _never_met_when_not(truth: documents.Truth, reading: Reading) -> tuple[int, int, int]:
    """(checked, wrongly met, unreadable) over requirements around the truth."""
    scale = documents.scale_of(truth)
    letters = sorted(scale, key=scale.__getitem__)
    wrong = unreadable = total = 0
    for minimum in (truth.ipk - 0.01, truth.ipk, truth.ipk + 0.01, truth.ipk + 0.2):
        minimum = round(minimum, 2)
        result = check.evaluate(reading, scale, declared_ipk=truth.ipk, semester=5, min_ipk=minimum, min_semester=None,
                                courses=[], required_documents=[], documents=["transcript"])
        status = result["requirements"][0]["status"]
        total += 1
        unreadable += status == check.UNREADABLE
        wrong += status == check.MET and truth.ipk < minimum
    for course in truth.courses:
        at = letters.index(course["grade"])
        for index in {max(at - 1, 0), at, min(at + 1, len(letters) - 1)}:
            wanted = {"code": course["code"], "name": course["name"], "min_grade": letters[index]}
            result = check.evaluate(reading, scale, declared_ipk=truth.ipk, semester=5, min_ipk=None,
                                    min_semester=None, courses=[wanted], required_documents=[],
                                    documents=["transcript"])
            status = result["requirements"][0]["status"]
            total += 1
            unreadable += status == check.UNREADABLE
            wrong += status == check.MET and scale[course["grade"]] < scale[letters[index]]
    return total, wrong, unreadable


def _run(tmp_path: Path, kind: str) -> tuple[float, int, int]:
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # layout: grades right, courses, ipk right, n
    checked = wrong = unreadable = 0
    for truth, pdf, scan, _ in _set(tmp_path):
        data, media = (pdf, "application/pdf") if kind == "pdf" else (scan, "image/jpeg")
        reading = ocr.read(data, media, documents.scale_of(truth))
        assert reading.source == ("text" if kind == "pdf" else "ocr")
        right, ipk = _score(truth, reading)
        row = rows[truth.layout]
        row[0] += right
        row[1] += len(truth.courses)
        row[2] += ipk
        row[3] += 1
        total, bad, unread = _never_met_when_not(truth, reading)
        checked, wrong, unreadable = checked + total, wrong + bad, unreadable + unread
    grades = sum(r[0] for r in rows.values()) / sum(r[1] for r in rows.values())
    print(f"\n{kind}: layout  grades right  IPK right")
    for layout, (right, courses, ipk, n) in sorted(rows.items()):
        print(f"{kind}: {layout:8} {right}/{courses} {right / courses:.1%}  {ipk}/{n}")
    print(f"{kind}: all      {grades:.1%}; requirements checked {checked}, met when not {wrong}, "
          f"unreadable {unreadable}")
    return grades, checked, wrong


def test_pdfs_with_text_read_99_percent_of_grades_and_never_report_a_requirement_met_that_is_not(
        tmp_path: Path) -> None:
    grades, checked, wrong = _run(tmp_path, "pdf")
    assert grades >= 0.99
    assert checked > 1000 and wrong == 0


def test_scans_read_95_percent_of_grades_and_never_report_a_requirement_met_that_is_not(tmp_path: Path) -> None:
    grades, checked, wrong = _run(tmp_path, "scan")
    assert grades >= 0.95
    assert checked > 1000 and wrong == 0
