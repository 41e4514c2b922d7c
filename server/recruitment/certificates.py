"""Certificates: a PDF (reportlab) with the assistant's name, course, period, sessions attended, the
signatory, a certificate number and a QR code of the public URL that says whether it is genuine.
The server keeps the number and the PDF's sha256; the PDF is stored and mailed."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.core.clock import utcnow
from server.core.errors import Conflict, NotFound
from server.core.ids import new_id
from server.notifications.kinds import Topic
from server.notifications.outbox import notify
from server.people.tables import Person
from server.recruitment import attendance, service
from server.recruitment.storage import Storage
from server.recruitment.tables import Certificate


@dataclass(frozen=True)
class Content:
    number: str
    name: str
    course: str
    period: str
    sessions: int
    signatory: str
    issued_at: datetime
    verify_url: str


def new_number(issued_at: datetime) -> str:
    """LG-<year>-<8 hex>: unique by the table's constraint, unguessable enough not to enumerate."""
    return f"LG-{issued_at.year}-{secrets.token_hex(4).upper()}"


def render(content: Content) -> tuple[bytes, str]:
    """The PDF and its sha256 (hex)."""
    from reportlab.graphics import renderPDF  # reportlab loads only when a certificate is made
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    width, height = landscape(A4)
    pdf = Canvas(buffer, pagesize=(width, height), invariant=True)
    pdf.setTitle(f"Sertifikat Asisten {content.number}")
    pdf.setAuthor("LabGate")
    pdf.setLineWidth(3)
    pdf.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm)
    pdf.setFont("Helvetica-Bold", 30)
    pdf.drawCentredString(width / 2, height - 45 * mm, "SERTIFIKAT ASISTEN PRAKTIKUM")
    pdf.setFont("Helvetica", 13)
    pdf.drawCentredString(width / 2, height - 55 * mm, f"Nomor: {content.number}")
    pdf.drawCentredString(width / 2, height - 72 * mm, "diberikan kepada")
    pdf.setFont("Helvetica-Bold", 24)
    pdf.drawCentredString(width / 2, height - 86 * mm, content.name)
    pdf.setFont("Helvetica", 14)
    pdf.drawCentredString(width / 2, height - 102 * mm, f"sebagai asisten praktikum {content.course}")
    pdf.drawCentredString(width / 2, height - 111 * mm,
                          f"periode {content.period}, hadir pada {content.sessions} sesi praktikum.")
    pdf.setFont("Helvetica", 12)
    pdf.drawString(30 * mm, 48 * mm, f"Diterbitkan {content.issued_at:%d-%m-%Y}")
    pdf.drawString(30 * mm, 30 * mm, content.signatory)
    pdf.line(30 * mm, 36 * mm, 110 * mm, 36 * mm)
    qr = QrCodeWidget(content.verify_url, barLevel="M")
    left, bottom, right, top = qr.getBounds()
    side = 45 * mm
    drawing = Drawing(side, side, transform=[side / (right - left), 0, 0, side / (top - bottom), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, pdf, width - 30 * mm - side, 22 * mm)
    pdf.setFont("Helvetica", 8)
    pdf.drawRightString(width - 30 * mm, 19 * mm, "Periksa keaslian: pindai kode QR")
    pdf.showPage()
    pdf.save()
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def verify_url(base_url: str, number: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/recruitment/certificates/{number}"


def issue(session: Session, storage: Storage, actor: Actor, assistantship_id: str, signatory: str,
          base_url: str) -> Certificate:
    """Make, keep and mail the certificate of one assistantship (one per assistantship: a second is a 409)."""
    contract = service.assistantship(session, assistantship_id)
    if session.scalar(select(Certificate.id).where(Certificate.assistantship_id == contract.id)):
        raise Conflict("this assistantship already has a certificate")
    owner = service.vacancy(session, contract.vacancy_id)
    person = session.get(Person, contract.person_id)
    assert person is not None
    now = utcnow()
    number = new_number(now)
    content = Content(number=number, name=person.name, course=f"{owner.course_code} {owner.course_name}",
                      period=owner.period, sessions=attendance.sessions_attended(session, contract.id),
                      signatory=signatory, issued_at=now, verify_url=verify_url(base_url, number))
    data, digest = render(content)
    key = storage.put("certificates", data, "pdf")
    row = Certificate(id=new_id(), number=number, assistantship_id=contract.id, person_id=person.id,
                      person_name=person.name, course=content.course, period=content.period,
                      sessions=content.sessions, signatory=signatory, sha256=digest, storage_key=key,
                      issued_at=now, issued_by=actor.person_id)
    session.add(row)
    notify(session, topic=Topic.RECRUITMENT, template="recruitment_certificate",
           context={"course": content.course, "period": content.period, "number": number,
                    "verify_url": content.verify_url},
           dedupe_key=f"certificate:{row.id}", people=[person.id],
           attachments=[(f"sertifikat-{number}.pdf", "application/pdf", data)])
    audit.record(session, actor, "certificate.issue", "person", person.id, number=number)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        storage.delete(key)
        raise Conflict("this assistantship already has a certificate") from exc
    return row


def find(session: Session, number: str) -> Certificate | None:
    return session.scalar(select(Certificate).where(Certificate.number == number))


def of_assistantship(session: Session, actor: Actor, assistantship_id: str) -> Certificate:
    """The certificate of one assistantship, to its holder (whatever role they act in: the assistant role
    goes when the contract ends) and to those who run the vacancy."""
    contract = service.assistantship(session, assistantship_id)
    if contract.person_id != actor.person_id:
        service.runs(session, actor, contract.vacancy_id)
    found = session.scalar(select(Certificate).where(Certificate.assistantship_id == contract.id))
    if found is None:
        raise NotFound("this assistantship has no certificate yet")
    return found


def pdf(session: Session, storage: Storage, actor: Actor, assistantship_id: str) -> tuple[str, bytes]:
    """The certificate's number and its PDF as issued (the same bytes as the sha256 kept)."""
    found = of_assistantship(session, actor, assistantship_id)
    return found.number, storage.get(found.storage_key)


def issued(session: Session, assistantship_ids: Sequence[str]) -> dict[str, Certificate]:
    """The certificates of these assistantships, by assistantship."""
    if not assistantship_ids:
        return {}
    rows = session.scalars(select(Certificate).where(Certificate.assistantship_id.in_(list(assistantship_ids))))
    return {row.assistantship_id: row for row in rows}
