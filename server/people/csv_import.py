"""Read a people CSV (number,name[,kind][,roles][,active]) into checked rows, or every fault in it.
Comma-, semicolon- and tab-separated files are read alike; roles are separated by ``;``, ``|`` or ``,``.

One bad row refuses the whole file, so an import never half-happens; the faults name line and column.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from server.auth.roles import Role
from server.auth.schemas import NUMBER_PATTERN

MAX_ROWS = 20_000
COLUMNS = ("number", "name", "kind", "roles", "active")
REQUIRED = ("number", "name")
TRUE, FALSE = {"1", "true", "yes", "y"}, {"0", "false", "no", "n"}


@dataclass(frozen=True)
class Row:
    line: int
    number: str
    name: str
    kind: str
    roles: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class Fault:
    line: int
    column: str
    msg: str


def parse(data: bytes) -> tuple[list[Row], list[Fault]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [Fault(0, "", f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8")]
    if "\x00" in text:
        return [], [Fault(0, "", "the file contains NUL characters; it is not a CSV text file")]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        parts = [f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(unknown)}" if unknown else ""]
        return [], [Fault(1, "", f"header: {'; '.join(p for p in parts if p)}; columns are {', '.join(COLUMNS)} "
                                 f"(number and name required)")]
    reader.fieldnames = header
    rows: list[Row] = []
    faults: list[Fault] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if len(rows) + len(faults) >= MAX_ROWS:
            faults.append(Fault(line, "", f"more than {MAX_ROWS} rows; split the file"))
            break
        if None in record:
            faults.append(Fault(line, "", "more fields than the header has columns"))
            continue
        row, row_faults = _row(line, {k: (v or "").strip() for k, v in record.items()})
        if row and row.number in seen:
            row_faults.append(Fault(line, "number", f"{row.number} is also on line {seen[row.number]}"))
        faults.extend(row_faults)
        if row and not row_faults:
            seen[row.number] = line
            rows.append(row)
    if not rows and not faults:
        faults.append(Fault(1, "", "the file has a header but no people"))
    return rows, faults


def delimiter(text: str) -> str:
    """``,``, or ``;`` when the header row has semicolons and no comma (spreadsheets in Indonesian and
    other locales where the comma is the decimal mark save CSV so), or a tab likewise."""
    header = text.lstrip().split("\n", 1)[0]
    for candidate in ("\t", ";"):
        if candidate in header and "," not in header:
            return candidate
    return ","


def _row(line: int, values: dict[str, str]) -> tuple[Row | None, list[Fault]]:
    faults: list[Fault] = []
    number, name = values.get("number", ""), values.get("name", "")
    if not re.fullmatch(NUMBER_PATTERN, number):
        faults.append(Fault(line, "number", f"{number!r} is not a NIM/NIP (letters, digits, . _ -, up to 40)"))
    if not name or len(name) > 200:
        faults.append(Fault(line, "name", "a name of 1 to 200 characters is needed"))
    kind = values.get("kind") or "student"
    if kind not in ("student", "staff"):
        faults.append(Fault(line, "kind", f"{kind!r}: use student or staff"))
    roles_text = values.get("roles") or ("student" if kind == "student" else "")
    roles = tuple(sorted({r.strip() for r in re.split(r"[;|,]", roles_text) if r.strip()}))
    wrong = [r for r in roles if r not in {x.value for x in Role}]
    if wrong:
        faults.append(Fault(line, "roles", f"unknown role {', '.join(wrong)}; roles are {', '.join(Role)} "
                                           f"(separate several with ; or |)"))
    if Role.ADMIN in roles:
        faults.append(Fault(line, "roles", "admin cannot be granted by import; grant it to the person by hand"))
    active_text = (values.get("active") or "true").lower()
    if active_text not in TRUE | FALSE:
        faults.append(Fault(line, "active", f"{active_text!r}: use true or false"))
    if faults:
        return None, faults
    return Row(line, number, name, kind, roles, active_text in TRUE), []
