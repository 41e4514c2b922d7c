"""The rules for kiosks: provisioning with a one-time token, revocation, commands, acknowledgements."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.core.clock import utcnow
from server.core.errors import Invalid, NotFound, Unauthenticated
from server.core.ids import new_id
from server.devices import tokens
from server.devices.schemas import CommandIn, DeviceIn, DevicePatch
from server.devices.tables import Device, DeviceCommand
from server.feed import cursor as cursors
from server.feed.tables import FeedChange

log = logging.getLogger("labgate.devices")

SEEN_EVERY = timedelta(seconds=30)  # last_seen is written at most this often per device


def register(session: Session, actor: Actor, data: DeviceIn, server_url: str,
             default_model: str | None) -> tuple[Device, str, str]:
    """A new device, its token (shown once) and its provisioning QR payload."""
    token, hashed = tokens.new_token()
    device = Device(id=new_id(), name=data.name.strip(), room=data.room, model_id=data.model_id or default_model,
                    token_hash=hashed, created_at=utcnow(), created_by=actor.person_id, revoked_at=None,
                    last_seen_at=None, last_seen_from=None, acked_seq=0, acked_at=None)
    session.add(device)
    audit.record(session, actor, "device.register", "device", device.id, name=device.name, room=device.room)
    session.commit()
    return device, token, tokens.provisioning_payload(server_url, device.id, token)


def get(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device with id {device_id}")
    return device


def listing(session: Session, room: str | None, include_revoked: bool) -> Sequence[Device]:
    query = select(Device).order_by(Device.room, Device.name)
    if room:
        query = query.where(Device.room == room)
    if not include_revoked:
        query = query.where(Device.revoked_at.is_(None))
    return session.scalars(query).all()


def update(session: Session, actor: Actor, device_id: str, patch: DevicePatch) -> Device:
    device = get(session, device_id)
    changed = {k: v for k, v in patch.model_dump(exclude_none=True).items() if getattr(device, k) != v}
    for key, value in changed.items():
        setattr(device, key, value)
    if changed:
        audit.record(session, actor, "device.update", "device", device.id, changed=sorted(changed))
        session.commit()
    return device


def revoke(session: Session, actor: Actor, device_id: str) -> Device:
    device = get(session, device_id)
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        audit.record(session, actor, "device.revoke", "device", device.id)
        session.commit()
    return device


def rotate_token(session: Session, actor: Actor, device_id: str, server_url: str) -> tuple[Device, str, str]:
    device = get(session, device_id)
    if device.revoked_at is not None:
        raise Invalid(f"device {device_id} is revoked; register a new one instead")
    token, device.token_hash = tokens.new_token()
    audit.record(session, actor, "device.token_rotate", "device", device.id)
    session.commit()
    return device, token, tokens.provisioning_payload(server_url, device.id, token)


def queue_command(session: Session, actor: Actor, device_id: str, data: CommandIn) -> DeviceCommand:
    device = get(session, device_id)
    command = DeviceCommand(id=new_id(), device_id=device.id, kind=data.kind, args=dict(data.args),
                            created_at=utcnow(), created_by=actor.person_id, acked_at=None, ok=None, detail=None)
    session.add(command)
    audit.record(session, actor, "device.command", "device", device.id, command=command.id, kind=data.kind)
    session.commit()
    return command


def commands(session: Session, device_id: str, pending_only: bool = False) -> Sequence[DeviceCommand]:
    query = select(DeviceCommand).where(DeviceCommand.device_id == device_id)
    if pending_only:
        query = query.where(DeviceCommand.acked_at.is_(None))
    return session.scalars(query.order_by(DeviceCommand.created_at, DeviceCommand.id)).all()


def pending_commands(session: Session, device_id: str) -> int:
    return session.scalar(select(func.count()).where(DeviceCommand.device_id == device_id,
                                                     DeviceCommand.acked_at.is_(None))) or 0


def authenticate(session: Session, device_id: str, token: str, client: str) -> Device:
    """The device a bearer token belongs to; wrong, unknown and revoked are all 401."""
    device = session.get(Device, device_id)
    if device is None or not tokens.matches(token, device.token_hash):
        raise Unauthenticated(f"device {device_id[:64]} is not registered or the token is wrong; provision the "
                              f"kiosk again")
    if device.revoked_at is not None:
        raise Unauthenticated(f"device {device_id} was revoked; provision the kiosk again")
    now = utcnow()
    if device.last_seen_at is None or now - device.last_seen_at > SEEN_EVERY or device.last_seen_from != client:
        device.last_seen_at, device.last_seen_from = now, client[:64]
        session.commit()
    return device


def ack_changes(session: Session, device: Device, cursor: str) -> int:
    position = cursors.parse(cursor)
    top = session.scalar(select(func.max(FeedChange.seq))) or 0
    if position > top:
        raise Invalid(f"cursor {cursor} is beyond the feed's end ({cursors.render(top)}); acknowledge only a "
                      f"next_cursor you were given", [(["body", "cursor"], "beyond the end of the feed")])
    if position > device.acked_seq:
        device.acked_seq, device.acked_at = position, utcnow()
        session.commit()
    return device.acked_seq


def ack_command(session: Session, device: Device, command_id: str, ok: bool, detail: str) -> DeviceCommand:
    command = session.get(DeviceCommand, command_id)
    if command is None or command.device_id != device.id:
        raise NotFound(f"device {device.id} has no command {command_id}")
    if command.acked_at is None:
        command.acked_at, command.ok, command.detail = utcnow(), ok, detail
        log.info("event=command_ack device=%s command=%s kind=%s ok=%s", device.id, command.id, command.kind, ok)
        session.commit()
    return command


def as_dict(command: DeviceCommand) -> dict[str, Any]:
    return {"id": command.id, "device_id": command.device_id, "kind": command.kind, "args": command.args,
            "created_at": command.created_at, "acked_at": command.acked_at, "ok": command.ok,
            "detail": command.detail}
