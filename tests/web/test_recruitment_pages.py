"""Recruitment's pages in a real Chromium against a real server: a lecturer opens a vacancy with a
pamphlet, a student applies with a generated transcript and reads its check, a second application is
refused, the lecturer selects, an admin activates, the assistant records attendance with a photo, the
lecturer confirms it and ends the contract, a certificate is issued and downloaded. Every page passes
axe and is photographed at phone and desktop width; refusals (role, CSRF, another applicant's data)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth.actor import Actor
from server.auth.roles import Role
from server.core.clock import utcnow
from server.core.database import Database
from server.people.schemas import Kind
from server.recruitment import service
from server.recruitment.schemas import VacancyIn, VacancyState
from tests.server.recruitment import documents
from tests.server.recruitment.conftest import png
from tests.web.conftest import Site, Someone, add_person, sign_in
from tests.web.test_pages import _axe

pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class Crew:
    lecturer: Someone
    applicant: Someone
    rival: Someone


@pytest.fixture(scope="session")
def crew(site: Site) -> Crew:
    return Crew(add_person(site, "1980000021", "Rudi Hartono", Kind.STAFF, (Role.LECTURER,), "en"),
                add_person(site, "2201000021", "Ayu Lestari", Kind.STUDENT, (Role.STUDENT,)),
                add_person(site, "2201000022", "Dimas Saputra", Kind.STUDENT, (Role.STUDENT,)))


def a_good_transcript() -> documents.Truth:
    """A generated transcript (born-digital PDF, table layout) whose IPK is comfortably above 2.5."""
    return next(t for t in (documents.make_truth(seed, layout="table") for seed in range(40)) if t.ipk >= 2.5)


class Checker:
    """Screenshots at phone and desktop width and axe's serious or critical findings, page by page."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.found = folder, {}  # type: ignore[var-annotated]

    def __call__(self, page: Any, name: str) -> None:
        for width, height, label in ((390, 844, "phone"), (1280, 800, "desktop")):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(self.folder / f"recruit_{name}-{label}.png"), full_page=True)
            bad = _axe(page)
            if bad:
                self.found[f"{name} ({label})"] = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                                                   for v in bad]
        page.set_viewport_size({"width": 390, "height": 844})


def _new_page(browser: Any, site: Site) -> Any:
    context = browser.new_context(base_url=site.base, viewport={"width": 390, "height": 844}, locale="en-GB")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.errors = errors
    return opened


def _cookies(page: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def _click(page: Any, target: Any) -> None:
    """Click a link or a form's button and wait for the page it opens."""
    with page.expect_navigation():
        target.click()


def _downloaded(page: Any, link: Any) -> bytes:
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path()).read_bytes()


def _apply(page: Any, transcript: Path, cv: Path, ipk: float) -> None:
    """Fill the application form (the student reads it in Indonesian) and send it."""
    page.get_by_label("Email").fill("ayu@student.example.ac.id")
    page.get_by_label("Nomor WhatsApp").fill("0812-3456-7890")
    page.get_by_label("Semester Anda").fill("5")
    page.get_by_label("IPK Anda").fill(f"{ipk:.2f}")
    page.get_by_label("Transkrip (KHS): PDF, JPEG atau PNG").set_input_files(str(transcript))
    page.get_by_label("Dokumen: cv").set_input_files(str(cv))
    _click(page, page.get_by_role("button", name="Kirim lamaran saya"))


def test_vacancy_to_certificate_in_the_browser(page: Any, browser: Any, site: Site, crew: Crew, tmp_path: Path,
                                              artifacts_dir: Path) -> None:
    check = Checker(artifacts_dir)
    truth = a_good_transcript()
    wanted = truth.courses[0]
    transcript, cv, pamphlet, photo = (tmp_path / n for n in ("khs.pdf", "cv.pdf", "pamflet.png", "foto.png"))
    transcript.write_bytes(documents.pdf(truth))
    cv.write_bytes(documents.pdf(documents.make_truth(99)))
    pamphlet.write_bytes(png(seed=1))
    photo.write_bytes(png(seed=2))

    # A lecturer makes a vacancy with a pamphlet and opens it.
    sign_in(page, crew.lecturer.number)
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="New vacancy").is_visible()
    assert nav.get_by_role("link", name="My applications").count() == 0
    _click(page, nav.get_by_role("link", name="New vacancy"))
    check(page, "lecturer_new")
    page.get_by_label("Course code").fill("IF2110")
    page.get_by_label("Course name").fill("Algoritma dan Struktur Data")
    page.get_by_label("Period (e.g. 2026/2027-1)").fill("2026/2027-1")
    page.get_by_label("Places").fill("2")
    page.get_by_label("Lowest IPK").fill("2.00")
    page.get_by_label("Lowest semester").fill("3")
    page.get_by_label(re.compile("^Courses, one a line")).fill(f"{wanted['code']} {wanted['name']} {wanted['grade']}")
    page.get_by_label(re.compile("^Other documents asked for")).fill("cv")
    page.get_by_label("Pamphlet: PDF, JPEG or PNG").set_input_files(str(pamphlet))
    _click(page, page.get_by_role("button", name="Save the vacancy"))
    vacancy_id = page.url.rsplit("/", 1)[1]
    assert _downloaded(page, page.get_by_role("link", name="Download the pamphlet")) == pamphlet.read_bytes()
    _click(page, page.get_by_role("button", name="Open for applications"))
    assert page.get_by_role("status").inner_text() == "The vacancy is open for applications."
    check(page, "lecturer_run_opened")

    # The student finds it among the cards, reads the pamphlet, and applies with the transcript.
    student = _new_page(browser, site)
    sign_in(student, crew.applicant.number)
    _click(student, student.get_by_role("navigation", name="Utama").get_by_role("link", name="Lowongan"))
    card = student.get_by_role("listitem").filter(has_text="IF2110 Algoritma dan Struktur Data")
    assert "dibuka" in card.inner_text()
    check(student, "student_vacancies")
    _click(student, card.get_by_role("link", name=re.compile("Rincian dan pendaftaran")))
    assert _downloaded(student, student.get_by_role("link", name="Unduh pamflet")) == pamphlet.read_bytes()
    check(student, "student_vacancy_form")
    twice = student.context.new_page()  # the same form open in a second tab: a second application
    twice.goto(f"/vacancies/{vacancy_id}")
    _apply(student, transcript, cv, truth.ipk)
    assert re.search(r"/me/applications#application-[\w-]+$", student.url), student.url
    mine = student.locator("section").filter(has_text="IF2110")
    assert "Persyaratan terpenuhi" in mine.inner_text(), mine.inner_text()
    row = mine.get_by_role("row").filter(has_text=wanted["code"])
    assert "terpenuhi" in row.inner_text() and wanted["grade"] in row.inner_text()
    assert f"{truth.ipk:.2f}".rstrip("0").rstrip(".") in mine.inner_text()
    check(student, "student_mine_checked")
    _apply(twice, transcript, cv, truth.ipk)
    refusal = twice.get_by_role("alert").inner_text()
    assert "already applied" in refusal and "Anda sudah mendaftar" in refusal, refusal
    check(twice, "student_second_refused")
    twice.goto("/me/applications")
    assert twice.locator("section[id^=application-]").count() == 1, "the second application was not stored"
    application_id = student.locator("section[id^=application-]").get_attribute("id").split("-", 1)[1]

    # The lecturer reads the check and the documents, and accepts; activation is an admin's.
    page.goto(f"/recruitment/vacancies/{vacancy_id}")
    applicant = page.locator(f"#application-{application_id}")
    assert "Requirements met" in applicant.inner_text()
    sent = _downloaded(page, applicant.get_by_role("link", name=re.compile("^transcript")))
    assert sent == transcript.read_bytes()
    check(page, "lecturer_run_applicants")
    applicant.get_by_label("Reason for the decision").fill("nilai dan dokumen lengkap")
    _click(page, applicant.get_by_role("button", name=re.compile("^Accept")))
    assert page.get_by_role("status").inner_text() == "Accepted."
    applicant = page.locator(f"#application-{application_id}")
    assert "accepted" in applicant.inner_text()
    assert applicant.get_by_role("button", name=re.compile("Activate")).count() == 0, "activation is an admin's"

    admin = _new_page(browser, site)
    sign_in(admin, site.admin.number)
    admin.goto("/vacancies")
    _click(admin, admin.get_by_role("listitem").filter(has_text="IF2110").get_by_role(
        "link", name=re.compile("Applicants and assistants")))
    _click(admin, admin.locator(f"#application-{application_id}").get_by_role("button",
                                                                             name=re.compile("^Activate")))
    assert admin.get_by_role("status").inner_text() == "Contract activated."

    # The assistant records a session with a photo from the phone's camera.
    _click(student, student.get_by_role("button", name="Keluar"))
    sign_in(student, crew.applicant.number)
    assert student.url.endswith("/role"), "student and assistant now: asked which role"
    student.get_by_label("asisten").check()
    _click(student, student.get_by_role("button", name="Lanjut"))
    _click(student, student.get_by_role("navigation", name="Utama").get_by_role("link",
                                                                               name="Keasistenan saya"))
    camera = student.get_by_label("Foto Anda di ruang itu")
    assert camera.get_attribute("accept") == "image/*" and camera.get_attribute("capture") == "user"
    check(student, "assistant_form")
    student.get_by_label("Ruang", exact=True).fill("LAB-1")
    camera.set_input_files(str(photo))
    _click(student, student.get_by_role("button", name="Catat", exact=True))
    assert student.get_by_role("status").inner_text() == "Kehadiran tercatat."
    assert "LAB-1" in student.get_by_role("table").inner_text()
    check(student, "assistant_recorded")

    # The lecturer sees the photo, confirms the session, and ends the contract.
    page.goto(f"/recruitment/vacancies/{vacancy_id}")
    applicant = page.locator(f"#application-{application_id}")
    proof = applicant.get_by_role("img", name=re.compile("Photo sent as proof"))
    assert proof.evaluate("img => img.complete && img.naturalWidth") == 320
    check(page, "lecturer_run_attendance")
    _click(page, applicant.get_by_role("button", name=re.compile("^Confirm LAB-1")))
    assert page.get_by_role("status").inner_text() == "Attendance confirmed."
    applicant = page.locator(f"#application-{application_id}")
    applicant.get_by_label("Reason for ending the contract").fill("semester selesai")
    _click(page, applicant.get_by_role("button", name=re.compile("^End the contract")))
    assert page.get_by_role("status").inner_text() == "Contract ended."
    assert "ended" in page.locator(f"#application-{application_id}").inner_text()

    # An admin issues the certificate; it counts the confirmed session and is the PDF the public URL vouches for.
    admin.reload()
    admin.locator(f"#application-{application_id}").get_by_label("Signed by (name and position)").fill(
        "Dr. Dewi, Kepala Lab")
    _click(admin, admin.locator(f"#application-{application_id}").get_by_role("button", name=re.compile("^Issue")))
    assert admin.get_by_role("status").inner_text() == "Certificate issued."
    link = admin.get_by_role("link", name=re.compile("Download the certificate"))
    number = re.search(r"LG-\d{4}-[0-9A-F]{8}", link.inner_text())
    assert number is not None and "1 sessions" in admin.locator(f"#application-{application_id}").inner_text()
    issued = _downloaded(admin, link)
    assert issued.startswith(b"%PDF")
    verified = httpx.get(f"{site.base}/api/v1/recruitment/certificates/{number[0]}").json()
    assert verified["genuine"] and verified["sha256"] == hashlib.sha256(issued).hexdigest()
    check(admin, "admin_run_certified")

    # The former assistant, a student again, downloads the same certificate from their applications.
    student.goto("/me/applications")
    assert student.url.endswith("/login"), "the assistant role ended with the contract, and its session"
    sign_in(student, crew.applicant.number)
    assert student.url.endswith("/home")
    student.goto("/me/applications")
    assert _downloaded(student, student.get_by_role("link", name=re.compile("Unduh sertifikat saya"))) == issued
    check(student, "student_mine_certified")
    for opened in (student, admin):
        assert not opened.errors, opened.errors
        opened.context.close()
    assert not check.found, check.found


@pytest.fixture(scope="session")
def open_vacancy(site: Site, crew: Crew) -> str:
    """An open vacancy of the crew's lecturer, made through the service in the server's database."""
    database = Database(site.url)
    lecturer = Actor(crew.lecturer.id, crew.lecturer.number, crew.lecturer.name, Role.LECTURER.value,
                     (Role.LECTURER.value,))
    now = utcnow()
    with database.session() as session:
        made = service.create_vacancy(session, lecturer, VacancyIn(
            course_code="IF2240", course_name="Basis Data", period="2026/2027-2", quota=1,
            opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=7), min_ipk=2.0))
        service.set_state(session, lecturer, made.id, VacancyState.OPEN)
        vacancy_id = made.id
    database.dispose()
    return vacancy_id


def test_refusals_role_csrf_and_another_applicants_data(page: Any, browser: Any, site: Site, crew: Crew,
                                                        open_vacancy: str, tmp_path: Path) -> None:
    transcript = tmp_path / "khs.pdf"
    transcript.write_bytes(documents.pdf(documents.make_truth(7)))
    sign_in(page, crew.rival.number)
    cookies = _cookies(page)
    form = {"email": "dimas@student.example.ac.id", "whatsapp": "0812-1111-2222", "semester": "4",
            "declared_ipk": "3.0"}
    files = {"transcript": ("khs.pdf", transcript.read_bytes(), "application/pdf")}
    for sent in ({}, {"csrf": "forged"}):
        refused = httpx.post(f"{site.base}/vacancies/{open_vacancy}/applications", data={**form, **sent},
                             files=files, cookies=cookies)
        assert refused.status_code == 403 and "security token" in refused.text
    page.goto("/me/applications")
    assert page.locator("section[id^=application-]").count() == 0, "a refused form stored nothing"

    page.goto(f"/vacancies/{open_vacancy}")
    page.get_by_label("Email").fill(form["email"])
    page.get_by_label("Nomor WhatsApp").fill(form["whatsapp"])
    page.get_by_label("Semester Anda").fill("4")
    page.get_by_label("IPK Anda").fill("3.00")
    page.get_by_label("Transkrip (KHS): PDF, JPEG atau PNG").set_input_files(str(transcript))
    _click(page, page.get_by_role("button", name="Kirim lamaran saya"))
    rival_id = page.locator("section[id^=application-]").get_attribute("id").split("-", 1)[1]

    other = _new_page(browser, site)
    sign_in(other, crew.applicant.number)
    other.goto("/me/applications")
    assert "IF2240" not in other.locator("main").inner_text() and form["email"] not in other.content()
    for path in (f"/applications/{rival_id}/documents/transcript", f"/recruitment/vacancies/{open_vacancy}",
                 "/recruitment/new", "/assistant"):
        answer = other.goto(path)
        assert answer is not None and answer.status == 403, path
        assert form["email"] not in other.content() and crew.rival.name not in other.content(), path
    refused = httpx.post(f"{site.base}/recruitment/applications/{rival_id}/accept", data={"reason": "saya sendiri"},
                         cookies=_cookies(other))
    assert refused.status_code == 403
    other.context.close()

    lecturer = _new_page(browser, site)
    sign_in(lecturer, crew.lecturer.number)
    refused = httpx.post(f"{site.base}/recruitment/applications/{rival_id}/reject", data={"reason": "tanpa token"},
                         cookies=_cookies(lecturer))
    assert refused.status_code == 403 and "security token" in refused.text
    lecturer.goto(f"/recruitment/vacancies/{open_vacancy}")
    assert "checked" in lecturer.locator(f"#application-{rival_id}").inner_text(), "still undecided"
    assert lecturer.get_by_role("link", name=re.compile("^transcript")).count() == 1
    lecturer.context.close()

    page.goto("/me/applications")  # the rival withdraws; nothing of theirs is left to decide
    page.get_by_label("Alasan menarik lamaran").fill("jadwal bentrok")
    _click(page, page.get_by_role("button", name=re.compile("^Tarik lamaran saya")))
    assert page.get_by_role("status").inner_text() == "Lamaran ditarik."
    assert "ditarik" in page.locator(f"#application-{rival_id}").inner_text()
    assert page.get_by_role("button", name=re.compile("^Tarik lamaran saya")).count() == 0


def _csrf(page: Any) -> str:
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))


def test_bad_forms_come_back_as_pages_never_as_server_errors(page: Any, site: Site, crew: Crew,
                                                              open_vacancy: str) -> None:
    sign_in(page, crew.lecturer.number)
    page.goto("/recruitment/new")
    sent = {"cookies": _cookies(page)}
    token = _csrf(page)
    good = {"csrf": token, "course_code": "IF3110", "course_name": "Pengembangan Aplikasi Web",
            "period": "2026/2027-1", "quota": "1", "opens_at": "2026-01-01T08:00", "closes_at": "2036-01-01T08:00"}
    for fields, expected in (({"quota": "many"}, "quota"), ({"opens_at": "yesterday"}, "opens_at"),
                             ({"courses": "IF2110"}, "min_grade"), ({"lecturers": "0000"}, "no person"),
                             ({"closes_at": "2025-01-01T08:00"}, "closes_at"), ({"period": "2026\x00"}, "NUL")):
        answer = httpx.post(f"{site.base}/recruitment/vacancies", data={**good, **fields}, **sent)  # type: ignore[arg-type]
        assert answer.status_code == 422 and expected in answer.text, (fields, answer.status_code, answer.text[-800:])
        assert answer.headers["content-type"].startswith("text/html")
    not_a_pamphlet = httpx.post(f"{site.base}/recruitment/vacancies", data=good, **sent,  # type: ignore[arg-type]
                                files={"pamphlet": ("pamflet.pdf", b"MZ\x90\x00 not a document", "application/pdf")})
    assert not_a_pamphlet.status_code == 415 and "Open for applications" in not_a_pamphlet.text, "the draft stands"
    for path, status in (("/recruitment/applications/nothing/accept", 404),
                         ("/recruitment/applications/nothing/crown", 422),
                         ("/recruitment/attendance/nothing/confirm", 404),
                         ("/recruitment/assistantships/nothing/end", 404),
                         ("/assistant/nothing/attendance", 403)):
        answer = httpx.post(f"{site.base}{path}", data={"csrf": token, "reason": "karena"}, **sent)  # type: ignore[arg-type]
        assert answer.status_code == status, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html"), path

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, crew.applicant.number)
    page.goto(f"/vacancies/{open_vacancy}")
    answer = httpx.post(f"{site.base}/vacancies/{open_vacancy}/applications", cookies=_cookies(page),
                        data={"csrf": _csrf(page), "email": "x@student.example.ac.id", "whatsapp": "0812-1111-3333",
                              "semester": "3", "declared_ipk": "3.1"},
                        files={"transcript": ("khs.pdf", b"plain text, not a PDF", "application/pdf")})
    assert answer.status_code == 415 and answer.headers["content-type"].startswith("text/html")
    assert "Kirim lamaran saya" in answer.text, "the form is there to send a PDF or an image"


def test_the_application_form_is_reached_by_keyboard_in_reading_order(page: Any, crew: Crew,
                                                                       open_vacancy: str) -> None:
    sign_in(page, crew.applicant.number)
    page.goto(f"/vacancies/{open_vacancy}")
    assert page.get_by_role("button", name="Kirim lamaran saya").is_visible()
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    fields = ["email", "whatsapp", "semester", "declared_ipk", "transcript", "Kirim lamaran saya"]
    assert all(f in reached for f in fields), reached
    assert [reached.index(f) for f in fields] == sorted(reached.index(f) for f in fields), reached
    page.focus("#semester")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none", "focus is visible"
