"""Remove templates and tell kiosks (the feed's ``removed_templates``); stored photos go with them."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.faces.tables import Template
from server.feed import journal

log = logging.getLogger("labgate.faces")


def remove_templates(session: Session, person_id: str, template_id: str | None = None, tell_kiosks: bool = True) -> int:
    query = select(Template).where(Template.person_id == person_id)
    if template_id is not None:
        query = query.where(Template.id == template_id)
    count = 0
    for template in session.scalars(query):
        if template.photo_path:
            try:
                Path(template.photo_path).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("event=photo_delete_failed template=%s error=%s", template.id, exc)
        if tell_kiosks:
            journal.note(session, "template_removed", template.id)
        session.delete(template)
        count += 1
    return count
