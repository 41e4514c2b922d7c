"""Checking an application against its vacancy's requirements, with evidence for each.

Each requirement comes out ``met``, ``not_met`` or ``unreadable`` with the line read and its
confidence. The rules that keep it safe: a requirement is ``met`` only when every reading of it agrees
(the printed IPK and the one recomputed from the courses, a course row whose numbers agree with its
grade, read with confidence); an unreadable scan never gives ``not_met`` (a course missing from a scan
is ``unreadable``, from a PDF's text it is ``not_met``). Anything unreadable or inconsistent sends the
application to needs review.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rapidfuzz import fuzz

from server.recruitment.grades import at_least
from server.recruitment.transcript import Course, Reading

MET, NOT_MET, UNREADABLE = "met", "not_met", "unreadable"
NEEDS_REVIEW = "needs_review"
MIN_CONFIDENCE = 60.0  # tesseract's word confidence below which a reading is not trusted
NAME_MATCH = 85.0  # rapidfuzz token_sort_ratio for a course found by name
IPK_TOLERANCE = 0.011  # rounding: a printed IPK and the recomputed one may differ by a hundredth


def evaluate(reading: Reading | None, scale: Mapping[str, float], *, declared_ipk: float, semester: int,
             min_ipk: float | None, min_semester: int | None, courses: Sequence[Mapping[str, str]],
             required_documents: Sequence[str], documents: Sequence[str],
             unreadable_reason: str | None = None) -> dict[str, Any]:
    requirements: list[dict[str, Any]] = []
    problems: list[str] = []
    recomputed = reading.recomputed_ipk(scale) if reading else None
    if reading is None:
        problems.append(unreadable_reason or "the transcript could not be read")
    else:
        if reading.ipk is not None and recomputed is not None and abs(reading.ipk - recomputed) > IPK_TOLERANCE:
            problems.append(f"the printed IPK {reading.ipk:.2f} differs from {recomputed:.2f} recomputed from the "
                            "courses read")
        printed = reading.ipk if reading.ipk is not None else recomputed
        if printed is not None and declared_ipk > printed + IPK_TOLERANCE:
            problems.append(f"the declared IPK {declared_ipk:.2f} is higher than the transcript's {printed:.2f}")
        odd = [c.code for c in reading.courses if not c.consistent]
        if odd:
            problems.append(f"rows whose numbers disagree with their grade: {', '.join(odd[:10])}")
    if min_ipk is not None:
        requirements.append(_ipk(reading, recomputed, min_ipk))
    if min_semester is not None:
        requirements.append({"name": f"semester ≥ {min_semester}", "kind": "semester",
                             "status": MET if semester >= min_semester else NOT_MET,
                             "evidence": f"declared semester {semester}", "confidence": None})
    for wanted in courses:
        requirements.append(_course(reading, scale, wanted))
    for kind in required_documents:
        present = kind in documents
        requirements.append({"name": f"document {kind}", "kind": "document", "status": MET if present else NOT_MET,
                             "evidence": "uploaded" if present else "not uploaded", "confidence": None})
    statuses = {r["status"] for r in requirements}
    outcome = NEEDS_REVIEW if problems or UNREADABLE in statuses else NOT_MET if NOT_MET in statuses else MET
    return {
        "outcome": outcome, "problems": problems, "requirements": requirements,
        "source": reading.source if reading else None, "pages": reading.pages if reading else None,
        "confidence": reading.confidence if reading else None,
        "ipk_printed": reading.ipk if reading else None, "ipk_line": reading.ipk_line if reading else None,
        "ipk_recomputed": recomputed, "ipk_declared": declared_ipk,
        "courses": [_course_out(c) for c in reading.courses] if reading else [],
    }


def _ipk(reading: Reading | None, recomputed: float | None, minimum: float) -> dict[str, Any]:
    name = f"IPK ≥ {minimum:.2f}"
    readings = [v for v in ((reading.ipk if reading else None), recomputed) if v is not None]
    confidence = reading.ipk_confidence if reading and reading.ipk is not None else None
    if not readings:
        return {"name": name, "kind": "ipk", "status": UNREADABLE, "evidence": "no IPK line and no readable courses",
                "confidence": None}
    evidence = (reading.ipk_line if reading and reading.ipk_line else "") + (
        f" (recomputed {recomputed:.2f})" if recomputed is not None else "")
    trusted = reading is not None and (reading.source == "text" or (confidence or 0) >= MIN_CONFIDENCE)
    if all(v >= minimum for v in readings) and trusted and len(readings) == 2:
        status = MET
    elif all(v < minimum for v in readings) and trusted:
        status = NOT_MET
    else:
        status = UNREADABLE
    return {"name": name, "kind": "ipk", "status": status, "evidence": evidence.strip(), "confidence": confidence}


def _course(reading: Reading | None, scale: Mapping[str, float], wanted: Mapping[str, str]) -> dict[str, Any]:
    code, minimum = wanted["code"], wanted["min_grade"]
    name = f"{code} {wanted.get('name', '')} ≥ {minimum}".replace("  ", " ")
    base = {"name": name, "kind": "course"}
    if reading is None:
        return {**base, "status": UNREADABLE, "evidence": "the transcript could not be read", "confidence": None}
    found, how = find(reading, code, wanted.get("name", ""))
    if found is None:
        if reading.source == "text":
            return {**base, "status": NOT_MET, "evidence": "the course is not on the transcript", "confidence": 100.0}
        return {**base, "status": UNREADABLE, "evidence": "the course was not found in the scan", "confidence": None}
    verdict = at_least(scale, found.grade or "", minimum)
    trusted = found.consistent and (reading.source == "text" or found.confidence >= MIN_CONFIDENCE)
    status = UNREADABLE if verdict is None or not trusted else MET if verdict else NOT_MET
    return {**base, "status": status, "evidence": f"{found.line} (matched by {how})", "confidence": found.confidence}


def find(reading: Reading, code: str, name: str) -> tuple[Course | None, str]:
    """A course on the transcript by its code, else by its name (rapidfuzz, at least ``NAME_MATCH``)."""
    found = reading.course(code)
    if found is not None:
        return found, "code"
    if name:
        scored = [(fuzz.token_sort_ratio(name.lower(), c.name.lower()), c) for c in reading.courses]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        if best[1] is not None and best[0] >= NAME_MATCH:
            return best[1], f"name ({best[0]:.0f}%)"
    return None, "not found"


def _course_out(course: Course) -> dict[str, Any]:
    return {"code": course.code, "name": course.name, "sks": course.sks, "grade": course.grade,
            "confidence": course.confidence, "consistent": course.consistent}
