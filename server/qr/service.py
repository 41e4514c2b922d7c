"""Issue a QR fallback token for an active person; issuing one for someone else is audited."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.core.errors import Invalid
from server.people import service as people
from server.qr.signing import Issued, QrSigner


def issue(session: Session, signer: QrSigner, seconds: int, actor: Actor, person_id: str) -> tuple[Issued, datetime]:
    person = people.get(session, person_id)
    if not person.active:
        raise Invalid(f"{person.number} is deactivated; a QR token would not open the door")
    issued = signer.issue(person.number, seconds)
    if person.id != actor.person_id:
        audit.record(session, actor, "qr.issue", "person", person.id, jti=issued.payload["jti"])
        session.commit()
    return issued, datetime.fromtimestamp(issued.payload["exp"], UTC)
