"""The rules for kiosks: provisioning with a one-time token, activation, revocation, commands,
acknowledgements.

Provisioning: registering a device (or re-provisioning it) makes a **provisioning token**, shown once
in the QR payload, that works once and only for ``provisioning_token_hours``. The kiosk exchanges it
(``activate``) for the device token it made itself; the server keeps a sha256 of each. A second use
of the provisioning token is refused, so a photo of the QR code is worth nothing once the kiosk used
it; the same kiosk asking again with the same device token (its answer was lost) gets the same yes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as update_rows
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.core.clock import iso, utcnow
from server.core.errors import Conflict, Invalid, NotFound, Unauthenticated
from server.core.ids import new_id
from server.devices import tokens
from server.devices.schemas import CommandIn, DeviceIn, DevicePatch
from server.devices.tables import Device, DeviceCommand
from server.feed import cursor as cursors
from server.feed.tables import FeedChange

log = logging.getLogger("labgate.devices")

SEEN_EVERY = timedelta(seconds=30)  # last_seen is written at most this often per device


def register(session: Session, actor: Actor | None, data: DeviceIn, server_url: str, default_model: str | None,
             hours: float) -> tuple[Device, str, str]:
    """A new device, its provisioning token (shown once) and the QR payload that carries it."""
    device = Device(id=new_id(), name=data.name.strip(), room=data.room, model_id=data.model_id or default_model,
                    token_hash=None, created_at=utcnow(), created_by=actor.person_id if actor else None,
                    revoked_at=None, last_seen_at=None, last_seen_from=None, acked_seq=0, acked_at=None,
                    seq_contiguous=0)
    token = _new_provisioning(device, hours)
    session.add(device)
    audit.record(session, actor, "device.register", "device", device.id, name=device.name, room=device.room)
    session.commit()
    return device, token, tokens.provisioning_payload(server_url, device.id, token)


def reprovision(session: Session, actor: Actor | None, device_id: str, server_url: str,
                hours: float) -> tuple[Device, str, str]:
    """A new provisioning token for a device; its current device token stops working at once."""
    device = get(session, device_id)
    if device.revoked_at is not None:
        raise Invalid(f"device {device_id} is revoked; register a new one instead")
    token = _new_provisioning(device, hours)
    device.token_hash = None
    audit.record(session, actor, "device.reprovision", "device", device.id)
    session.commit()
    return device, token, tokens.provisioning_payload(server_url, device.id, token)


def _new_provisioning(device: Device, hours: float) -> str:
    token, device.provision_hash = tokens.new_provisioning_token()
    device.provision_expires_at = utcnow() + timedelta(hours=hours)
    device.provision_used_at = device.provision_used_from = None
    return token


def activate(session: Session, device_id: str, provisioning_token: str, device_token: str, client: str) -> Device:
    """Exchange the provisioning token, once, for ``device_token`` (which the kiosk made)."""
    device = session.get(Device, device_id)
    again = f"ask an admin for a new one (POST /api/v1/devices/{device_id[:64]}:rotate-token)"
    if device is None or not tokens.matches(provisioning_token, device.provision_hash):
        raise Unauthenticated(f"device {device_id[:64]} has no provisioning code like this one; {again}")
    if device.revoked_at is not None:
        raise Unauthenticated(f"device {device.id} was revoked; register a new device for this kiosk")
    if device.provision_used_at is not None:
        if tokens.matches(device_token, device.token_hash):
            return device  # the same kiosk again: its first answer was lost
        raise Conflict(f"this provisioning code was already used at {iso(device.provision_used_at)} from "
                       f"{device.provision_used_from or 'an unknown address'}; a code works once: {again}. If no "
                       "kiosk of yours used it, someone else did: the new code cuts them off")
    now = utcnow()
    if device.provision_expires_at is None or device.provision_expires_at <= now:
        expired = iso(device.provision_expires_at) if device.provision_expires_at else "once"
        raise Unauthenticated(f"this provisioning code expired at {expired}; {again}")
    if device_token == provisioning_token:
        raise Invalid("the device token must be a new random secret, not the provisioning token",
                      [(["body", "device_token"], "equals the provisioning token")])
    taken = session.execute(
        update_rows(Device).where(Device.id == device.id, Device.provision_hash == device.provision_hash,
                             Device.provision_used_at.is_(None))
        .values(token_hash=tokens.token_hash(device_token), provision_used_at=now, provision_used_from=client[:64])
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]  # another request used it between read and write
        session.rollback()
        won = session.get(Device, device_id, populate_existing=True)
        if won is not None and won.provision_used_at is not None and tokens.matches(device_token, won.token_hash):
            return won  # the same kiosk twice at once (its sync thread and `labgate-sync provision`): one yes
        raise Conflict(f"this provisioning code was used a moment ago by another request; a code works once: {again}")
    audit.record(session, None, "device.activate", "device", device.id, address=client[:64])
    session.commit()
    session.refresh(device)
    log.info("event=device_activated device=%s address=%s", device.id, client[:64])
    return device


def demo(session: Session, name: str, room: str, model_id: str | None, server_url: str,
         hours: float) -> tuple[Device, str, str]:
    """The demo kiosk of ``make run``: registered once (by name), a new provisioning code each call."""
    device = session.scalars(select(Device).where(Device.name == name, Device.revoked_at.is_(None))
                             .order_by(Device.created_at)).first()
    if device is None:
        return register(session, None, DeviceIn(name=name, room=room, model_id=model_id), server_url, model_id, hours)
    return reprovision(session, None, device.id, server_url, hours)


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
        raise Unauthenticated(f"device {device_id[:64]} is not registered or the token is wrong (replaced when the "
                              "device was provisioned again, or never activated); provision the kiosk again")
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
