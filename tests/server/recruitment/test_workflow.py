"""The whole workflow on a real server (uvicorn on loopback, its sender running) with a real SMTP
relay (aiosmtpd): vacancy -> application with a transcript read and checked -> selection (email) ->
activation (email with how to sign in) -> attendance with a photo -> contract end (access revoked at
once) -> certificate (PDF whose text extracts, whose QR code opens the URL that verifies it, mailed).
The old systems' black-box cases are each a step here and are named in the asserts' messages."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import cv2
import numpy as np
import pypdfium2 as pdfium

from server.auth.roles import Role
from tests.server.conftest import Person
from tests.server.notifications.conftest import Live, Peers, wait_until
from tests.server.recruitment.conftest import NOW, apply, png, transcript_pdf, vacancy_body


def _mail_to(peers: Peers, address: str, subject_part: str) -> EmailMessage:
    found: list[EmailMessage] = []

    def arrived() -> bool:
        found[:] = [m for m in peers.smtp.messages() if address in str(m["To"]) and subject_part in str(m["Subject"])]
        return bool(found)

    wait_until(arrived, timeout=60, what=f"an email to {address} about {subject_part!r}")
    return found[0]


def test_vacancy_to_certificate_on_a_real_server(live: Callable[..., Live], peers: Peers,
                                                 add_person: Callable[..., str]) -> None:
    server = live()
    http = server.http
    add_person("1970000001", Role.ADMIN, email="admin@lab.example.ac.id")
    add_person("1980000001", Role.LECTURER, email="dosen@lab.example.ac.id", name="Dr. Lektor")
    student_id = add_person("13520000001", Role.STUDENT, name="Siti Rahma")
    add_person("13520000002", Role.STUDENT, name="Budi Santoso")
    admin, lecturer = server.login("1970000001"), server.login("1980000001")
    student, other = server.login("13520000001"), server.login("13520000002")

    truth, transcript = transcript_pdf(4)
    wanted = truth.courses[0]
    body = vacancy_body(min_ipk=2.0, min_semester=3, required_documents=["cv"],
                        course_requirements=[{"code": wanted["code"], "name": wanted["name"],
                                              "min_grade": wanted["grade"]}])
    made = http.post("/api/v1/recruitment/vacancies", json=body, headers=lecturer)
    assert made.status_code == 201, made.text
    vacancy = made.json()
    assert vacancy["state"] == "draft" and vacancy["lecturers"]
    pamphlet = http.put(f"/api/v1/recruitment/vacancies/{vacancy['id']}/pamphlet", headers=lecturer,
                        files={"file": ("pamflet.png", png(), "image/png")})
    assert pamphlet.status_code == 200 and pamphlet.json()["has_pamphlet"], pamphlet.text
    assert http.get(f"/api/v1/recruitment/vacancies/{vacancy['id']}", headers=student).status_code == 404  # draft
    assert http.post(f"/api/v1/recruitment/vacancies/{vacancy['id']}:open", headers=lecturer).status_code == 200
    shown = http.get(f"/api/v1/recruitment/vacancies/{vacancy['id']}/pamphlet", headers=student)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"

    siti = Person(student_id, "13520000001", student)
    cv = transcript_pdf(9)[1]
    applied = apply(http, vacancy["id"], siti, transcript, declared_ipk=truth.ipk, extra=(("cv", "cv.pdf", cv),))
    assert applied.status_code == 201, applied.text
    application = applied.json()
    assert application["state"] == "checked" and application["outcome"] == "met", application["findings"]
    statuses = {r["name"]: r["status"] for r in application["findings"]["requirements"]}
    assert set(statuses.values()) == {"met"}, statuses
    assert application["findings"]["ipk_printed"] == truth.ipk
    assert [h["to_state"] for h in application["history"]] == ["submitted", "checked"]

    again = apply(http, vacancy["id"], siti, transcript, declared_ipk=truth.ipk, extra=(("cv", "cv.pdf", cv),))
    assert again.status_code == 409 and "Anda sudah mendaftar" in again.json()["detail"], \
        "a second application to the same vacancy is refused"

    listed = http.get(f"/api/v1/recruitment/vacancies/{vacancy['id']}/applications", headers=lecturer)
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["items"]] == [application["id"]]
    document = f"/api/v1/recruitment/applications/{application['id']}/documents/transcript"
    assert http.get(document, headers=lecturer).content == transcript
    assert http.get(document, headers=other).status_code == 403, "a document is served only to those allowed"

    accepted = http.post(f"/api/v1/recruitment/applications/{application['id']}:accept",
                         json={"reason": "Nilai ASD sangat baik"}, headers=lecturer)
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted", accepted.text
    mail = _mail_to(peers, "s13520000001@student.example.ac.id", "Diterima")
    body_text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Nilai ASD sangat baik" in body_text, "accepting sends an email"

    activated = http.post(f"/api/v1/recruitment/applications/{application['id']}:activate", headers=admin)
    assert activated.status_code == 201, activated.text
    contract = activated.json()
    login_mail = _mail_to(peers, "s13520000001@student.example.ac.id", "aktif")
    text = login_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "13520000001" in text and "assistant" in text, "activation mails login instructions"
    roles = http.post("/api/v1/auth/login", json={"number": "13520000001", "password": "correct horse battery"})
    assert roles.status_code == 422 and set(roles.json()["roles"]) == {"student", "assistant"}
    signed = http.post("/api/v1/auth/login", json={"number": "13520000001", "password": "correct horse battery",
                                                   "role": "assistant"})
    assert signed.status_code == 200, "activation makes an assistant account"
    assistant = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    refresh = signed.json()["refresh_token"]

    start = NOW.replace(microsecond=0) - timedelta(hours=3)
    recorded = http.post(f"/api/v1/recruitment/assistantships/{contract['id']}/attendance", headers=assistant,
                         data={"room": "LAB-1", "starts_at": start.isoformat(),
                               "ends_at": (start + timedelta(hours=2)).isoformat()},
                         files={"photo": ("hadir.png", png(seed=5), "image/png")})
    assert recorded.status_code == 201, recorded.text
    row = recorded.json()
    assert row["source"] == "photo" and row["face_score"] is None, "attendance with a photo is stored"
    photo = http.get(f"/api/v1/recruitment/attendance/{row['id']}/photo", headers=lecturer)
    assert photo.status_code == 200 and photo.content == png(seed=5)
    assert http.post(f"/api/v1/recruitment/attendance/{row['id']}:confirm", headers=lecturer).status_code == 200
    sheet = http.get(f"/api/v1/recruitment/vacancies/{vacancy['id']}/attendance.csv", headers=lecturer)
    assert sheet.status_code == 200 and "13520000001,Siti Rahma" in sheet.text and ",yes," in sheet.text

    ended = http.post(f"/api/v1/recruitment/assistantships/{contract['id']}:end", json={"reason": "Semester usai"},
                      headers=lecturer)
    assert ended.status_code == 200 and ended.json()["status"] == "ended", ended.text
    assert http.get("/api/v1/me", headers=assistant).status_code == 401, "ending a contract revokes access at once"
    assert http.post("/api/v1/auth/refresh", json={"refresh_token": refresh}).status_code == 401
    assert http.post("/api/v1/auth/login", json={"number": "13520000001", "password": "correct horse battery",
                                                 "role": "assistant"}).status_code == 422

    issued = http.post(f"/api/v1/recruitment/assistantships/{contract['id']}/certificate", headers=admin,
                       json={"signatory": "Dr. Ahmad, Kepala Laboratorium"})
    assert issued.status_code == 201, issued.text
    certificate = issued.json()
    assert certificate["sessions"] == 1
    mail = _mail_to(peers, "s13520000001@student.example.ac.id", certificate["number"])
    attached = [part for part in mail.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(attached) == 1, "the certificate is mailed"
    pdf = attached[0].get_content()
    assert hashlib.sha256(pdf).hexdigest() == certificate["sha256"]
    url = _certificate_checks(pdf, certificate["number"])
    assert url == certificate["verify_url"]
    verified = http.get(url.replace(server.url, ""))
    assert verified.status_code == 200 and verified.json()["genuine"] is True, "its QR code verifies it"
    assert verified.json()["sha256"] == certificate["sha256"]
    forged = http.get("/api/v1/recruitment/certificates/LG-2026-00000000")
    assert forged.status_code == 200 and forged.json()["genuine"] is False
    download = f"/api/v1/recruitment/assistantships/{contract['id']}/certificate"
    for holder in (student, lecturer):
        kept = http.get(download, headers=holder)
        assert kept.status_code == 200 and kept.content == pdf, "the holder, a student again, and the lecturer"
        assert certificate["number"] in kept.headers["content-disposition"]
    assert http.get(download, headers=other).status_code == 403, "no one else downloads it"


def _certificate_checks(pdf: bytes, number: str) -> str:
    """The certificate's text extracts (name, number, course) and its QR code decodes; the URL."""
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        text = page.get_textpage().get_text_range()
        bitmap: Any = np.array(page.render(scale=3).to_numpy())  # a copy: the rendered buffer belongs to pdfium
    finally:
        document.close()
    assert "Siti Rahma" in text and number in text and "IF2110" in text, text
    image = np.ascontiguousarray(bitmap[:, :, :3])
    # the kiosk's detector (kiosk/qr.py): the classic cv2.QRCodeDetector misses about 1 in 30 of these codes
    # at this size (5 of 150 rendered certificates, each of which this one read, 300 of 300)
    decoded, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert decoded, "the certificate's QR code decodes"
    return str(decoded)
