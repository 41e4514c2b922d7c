"""Transcript reading: seconds per page and accuracy, for PDFs with text and for scans, by layout.

    .venv/bin/python bench/transcripts.py [--count 30] [--only pdf|scan]

The transcripts are the tests' generated ones (``tests/server/recruitment/documents.py``: invented
students, 3 layouts x 3 fonts; scans rendered at 150-300 dpi, rotated up to ±5°, blurred, warped,
JPEG). Accuracy: a course is right when its grade and SKS are (found by code, else by name); IPK right
when the printed IPK is read exactly. Times are medians of ``ocr.read`` per page (tesseract with one
thread). Reference: the issue's targets (99 % of grades on PDFs, 95 % on scans). The machine may be
shared: times are indicative. Never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.recruitment import check, ocr  # noqa: E402
from tests.server.recruitment import documents  # noqa: E402

TARGET = {"pdf": 0.99, "scan": 0.95}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=30, help="transcripts (each as a PDF and as a scan)")
    parser.add_argument("--only", choices=("pdf", "scan"), help="one kind only")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["pdf", "scan"]
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    right: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for seed in range(args.count):
        truth = documents.make_truth(seed)
        pdf = documents.pdf(truth)
        for kind in kinds:
            data, media = (pdf, "application/pdf") if kind == "pdf" else (documents.scan(pdf, seed)[0], "image/jpeg")
            started = time.perf_counter()
            reading = ocr.read(data, media, documents.scale_of(truth))
            times[(kind, truth.layout)].append((time.perf_counter() - started) / reading.pages)
            row = right[(kind, truth.layout)]
            for course in truth.courses:
                found, _ = check.find(reading, course["code"], course["name"])
                row[0] += bool(found and found.grade == course["grade"] and found.sks == course["sks"])
            row[1] += len(truth.courses)
            row[2] += reading.ipk == truth.ipk
            row[3] += 1
    print(f"{'kind':5} {'layout':8} {'n':>3} {'s/page (median)':>16} {'grades right':>14} {'IPK right':>10} "
          f"{'reference':>10}")
    for kind in kinds:
        for layout in documents.LAYOUTS:
            key = (kind, layout)
            if key not in times:
                continue
            good, courses, ipk, n = right[key]
            print(f"{kind:5} {layout:8} {n:>3} {statistics.median(times[key]):>16.3f} {good / courses:>14.1%} "
                  f"{ipk / n:>10.0%} {'≥ ' + format(TARGET[kind], '.0%'):>10}")
        all_times = [t for (k, _), found in times.items() if k == kind for t in found]
        good = sum(v[0] for (k, _), v in right.items() if k == kind)
        courses = sum(v[1] for (k, _), v in right.items() if k == kind)
        print(f"{kind:5} {'all':8} {len(all_times):>3} {statistics.median(all_times):>16.3f} {good / courses:>14.1%}")


if __name__ == "__main__":
    main()
