"""The rules for people: numbers are unique, only an admin makes admins, every change reaches kiosks
through the feed and lands in the audit log."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.auth.roles import Role
from server.auth.service import revoke_all
from server.core.clock import utcnow
from server.core.errors import Conflict, Forbidden, Invalid, NotFound
from server.core.ids import new_id
from server.faces.removal import remove_templates
from server.feed import journal
from server.people import csv_import
from server.people.pins import hash_pin
from server.people.schemas import ConsentIn, PersonIn, PersonPatch
from server.people.tables import Consent, Person, PersonRole


def get(session: Session, person_id: str) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    return person


def by_number(session: Session, number: str) -> Person | None:
    return session.scalar(select(Person).where(Person.number == number))


PEOPLE, ROLES = Person.__table__, PersonRole.__table__


@functools.cache
def _page_queries(by_text: bool, by_role: bool, by_active: bool) -> tuple[Select[Any], Select[Any]]:
    """(the count, the page joined to its roles) for one combination of filters, built once: every
    value is a bound parameter, so a request only binds them (no statement built, no cache key)."""
    conditions: list[Any] = []
    if by_text:
        conditions.append(or_(func.lower(PEOPLE.c.name).like(bindparam("like")),
                              PEOPLE.c.number.like(bindparam("prefix"))))
    if by_role:
        conditions.append(exists().where(ROLES.c.person_id == PEOPLE.c.id, ROLES.c.role == bindparam("role")))
    if by_active:
        conditions.append(PEOPLE.c.active == bindparam("active"))
    count = select(func.count()).select_from(PEOPLE).where(*conditions)
    page = (select(PEOPLE).where(*conditions).order_by(PEOPLE.c.number)
            .offset(bindparam("offset")).limit(bindparam("limit")).subquery("page"))
    rows = (select(page, ROLES.c.role).select_from(page.outerjoin(ROLES, ROLES.c.person_id == page.c.id))
            .order_by(page.c.number, ROLES.c.role))
    return count, rows


def search(session: Session, q: str | None, role: Role | None, active: bool | None, offset: int,
           limit: int) -> tuple[list[dict[str, Any]], int]:
    """A page of people in number order, each a dict of ``PersonOut``'s fields, and how many match:
    two queries (the count; the page joined to its roles, so the page's rows are read once), no
    ORM objects."""
    count, page = _page_queries(bool(q), role is not None, active is not None)
    values: dict[str, Any] = {"offset": offset, "limit": limit}
    if q:
        values.update(like=f"%{q.lower()}%", prefix=f"{q}%")
    if role is not None:
        values["role"] = role.value
    if active is not None:
        values["active"] = active
    connection = session.connection()
    total = int(connection.execute(count, values).scalar_one())
    return _gather(connection.execute(page, values)), total


_ONE = (select(PEOPLE, ROLES.c.role).select_from(PEOPLE.outerjoin(ROLES, ROLES.c.person_id == PEOPLE.c.id))
        .where(PEOPLE.c.id == bindparam("id")).order_by(ROLES.c.role))


def one(session: Session, person_id: str) -> dict[str, Any]:
    """One person as a dict of ``PersonOut``'s fields: one query joined to the roles, no ORM object (the
    path of an ordinary signed-in read)."""
    found = _gather(session.connection().execute(_ONE, {"id": person_id}))
    if not found:
        raise NotFound(f"no person with id {person_id}")
    return found[0]


def _gather(rows: Any) -> list[dict[str, Any]]:
    """People rows joined to their roles (one row per role, a person's rows together) as ``PersonOut``
    dicts, in the rows' order."""
    people: dict[str, dict[str, Any]] = {}
    for row in rows:
        person = people.get(row.id)
        if person is None:
            person = people[row.id] = {
                "id": row.id, "number": row.number, "name": row.name, "kind": row.kind, "roles": [],
                "active": row.active, "has_pin": row.pin_hash is not None, "version": row.version,
                "created_at": row.created_at, "updated_at": row.updated_at}
        if row.role is not None:
            person["roles"].append(row.role)
    return list(people.values())


def create(session: Session, actor: Actor | None, data: PersonIn) -> Person:
    _may_grant(actor, set(), {r.value for r in data.roles})
    if by_number(session, data.number):
        raise Conflict(f"a person with number {data.number} already exists")
    now = utcnow()
    person = Person(id=new_id(), number=data.number, name=data.name.strip(), kind=data.kind.value, active=data.active,
                    pin_hash=None, version=1, created_at=now, updated_at=now,
                    roles=[PersonRole(role=r) for r in sorted({r.value for r in data.roles})])
    session.add(person)
    journal.note(session, "person", person.id)
    audit.record(session, actor, "person.create", "person", person.id, number=data.number,
                 roles=person.role_names)
    _commit(session, data.number)
    return person


def update(session: Session, actor: Actor, person_id: str, patch: PersonPatch) -> Person:
    person = get(session, person_id)
    only_an_admin_changes_an_admin(actor, person)
    was_admin = person.active and Role.ADMIN.value in person.role_names
    loses_admin = was_admin and (patch.active is False or (
        patch.roles is not None and Role.ADMIN not in patch.roles))
    if loses_admin:
        lock_admins(session)
    changed: dict[str, object] = {}
    if patch.roles is not None:
        new_roles = {r.value for r in patch.roles}
        _may_grant(actor, set(person.role_names), new_roles)
        if new_roles != set(person.role_names):
            person.roles = [PersonRole(role=r) for r in sorted(new_roles)]
            changed["roles"] = sorted(new_roles)
    if patch.name is not None and patch.name.strip() != person.name:
        person.name = changed["name"] = patch.name.strip()  # type: ignore[assignment]
    if patch.kind is not None and patch.kind.value != person.kind:
        person.kind = changed["kind"] = patch.kind.value  # type: ignore[assignment]
    if patch.active is not None and patch.active != person.active:
        if not patch.active and person.id == actor.person_id:
            raise Invalid("you cannot deactivate your own account")
        person.active = changed["active"] = patch.active  # type: ignore[assignment]
        if not patch.active:
            revoke_all(session, person.id)
    if changed:
        _touch(session, person)
        if loses_admin:
            keep_an_admin(session)
        audit.record(session, actor, "person.update", "person", person.id, changed=sorted(changed))
        session.commit()
    return person


def only_an_admin_changes_an_admin(actor: Actor, person: Person) -> None:
    """A head (or any other role) may not deactivate, change or erase a person holding the admin role."""
    if Role.ADMIN.value in person.role_names and actor.role != Role.ADMIN:
        raise Forbidden(f"{person.number} is an admin; only an admin may change or erase an admin")


def lock_admins(session: Session) -> None:
    """Take the rows of every admin (PostgreSQL: FOR UPDATE), so two changes that each remove an admin
    run one after the other and the second sees the first. On SQLite the change's own write lock
    does this (``keep_an_admin`` counts after writing)."""
    session.execute(select(Person.id).join(PersonRole).where(PersonRole.role == Role.ADMIN.value)
                    .with_for_update(of=Person))


def keep_an_admin(session: Session) -> None:
    """After a change that removed an admin (written, not committed): refuse it if no active admin is left."""
    session.flush()
    left = session.scalar(select(func.count()).select_from(Person).join(PersonRole)
                          .where(PersonRole.role == Role.ADMIN.value, Person.active.is_(True)))
    if not left:
        session.rollback()
        raise Conflict("this would leave the server without an active admin; make someone else an admin first")


def set_pin(session: Session, actor: Actor, person_id: str, pin: str) -> None:
    person = get(session, person_id)
    person.pin_hash = hash_pin(pin)
    _touch(session, person)
    audit.record(session, actor, "person.pin_set", "person", person.id)
    session.commit()


def record_consent(session: Session, actor: Actor, person_id: str, data: ConsentIn) -> Consent:
    """Store a consent decision. Withdrawing face-recognition consent removes the person's templates
    (and kiosks are told through the feed)."""
    person = get(session, person_id)
    consent = Consent(id=new_id(), person_id=person.id, purpose=data.purpose.value, granted=data.granted,
                      note=data.note, recorded_by=actor.person_id, recorded_at=utcnow())
    session.add(consent)
    removed = 0
    if data.purpose.value == "face_recognition" and not data.granted:
        removed = remove_templates(session, person.id)
    audit.record(session, actor, "consent.record", "person", person.id, purpose=data.purpose.value,
                 granted=data.granted, templates_removed=removed)
    session.commit()
    return consent


def consents(session: Session, person_id: str) -> Sequence[Consent]:
    get(session, person_id)
    return session.scalars(select(Consent).where(Consent.person_id == person_id)
                           .order_by(Consent.recorded_at, Consent.id)).all()


def has_consent(session: Session, person_id: str, purpose: str) -> bool:
    latest = session.scalars(select(Consent).where(Consent.person_id == person_id, Consent.purpose == purpose)
                             .order_by(Consent.recorded_at.desc()).limit(1)).first()
    return bool(latest and latest.granted)


def import_csv(session: Session, actor: Actor, data: bytes, dry_run: bool) -> tuple[int, int, int]:
    """(created, updated, unchanged). Any fault refuses the whole file and nothing is stored."""
    rows, faults = csv_import.parse(data)
    if faults:
        shown = "; ".join(f"line {f.line} {f.column}: {f.msg}" if f.column else f"line {f.line}: {f.msg}"
                          for f in faults[:5])
        raise Invalid(f"the CSV has {len(faults)} fault(s), nothing was imported: {shown}",
                      [([f"line {f.line}", f.column or "row"], f.msg) for f in faults[:500]])
    existing = {p.number: p for p in session.scalars(select(Person).where(
        Person.number.in_([r.number for r in rows])))} if len(rows) <= 5000 else {
        p.number: p for p in session.scalars(select(Person))}
    created = updated = unchanged = 0
    now = utcnow()
    for row in rows:
        person = existing.get(row.number)
        if person is None:
            person = Person(id=new_id(), number=row.number, name=row.name, kind=row.kind, active=row.active,
                            pin_hash=None, version=1, created_at=now, updated_at=now,
                            roles=[PersonRole(role=r) for r in row.roles])
            session.add(person)
            journal.note(session, "person", person.id)
            created += 1
            continue
        if Role.ADMIN in person.role_names:
            raise Invalid(f"line {row.line}: {row.number} is an admin; change admins by hand, not by import",
                          [([f"line {row.line}", "number"], "admin accounts are not changed by import")])
        if (person.name, person.kind, person.active, tuple(person.role_names)) == (
                row.name, row.kind, row.active, row.roles):
            unchanged += 1
            continue
        person.name, person.kind, person.active = row.name, row.kind, row.active
        if tuple(person.role_names) != row.roles:
            person.roles = [PersonRole(role=r) for r in row.roles]
        _touch(session, person)
        updated += 1
    if dry_run:
        session.rollback()
        return created, updated, unchanged
    audit.record(session, actor, "person.import", "person", None, created=created, updated=updated,
                 unchanged=unchanged)
    _commit(session, "in the file")
    return created, updated, unchanged


def _touch(session: Session, person: Person) -> None:
    person.version += 1
    person.updated_at = utcnow()
    journal.note(session, "person", person.id)


def _may_grant(actor: Actor | None, before: set[str], after: set[str]) -> None:
    """Only an admin (or the command line, actor None) grants or takes the admin role."""
    touches_admin = (Role.ADMIN.value in before) != (Role.ADMIN.value in after)
    if touches_admin and actor is not None and actor.role != Role.ADMIN:
        raise Forbidden("only an admin can grant or take the admin role")


def _commit(session: Session, number: str) -> None:
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent create of the same number
        session.rollback()
        raise Conflict(f"a person with number {number} already exists") from exc
