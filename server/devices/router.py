"""Kiosk provisioning and management (admin side)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from server.auth.actor import Actor
from server.auth.dependencies import allow
from server.auth.roles import Role
from server.core.dependencies import SessionDep, SettingsDep
from server.devices import service
from server.devices.dependencies import DeviceId
from server.devices.schemas import (
    CommandIn,
    CommandOut,
    DeviceDetailOut,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    ProvisionedOut,
)
from server.devices.tables import Device
from server.faces.router import FacesDep
from server.feed.cursor import render
from server.presence import sequence

router = APIRouter(tags=["devices"])

Admin = Annotated[Actor, Depends(allow(Role.ADMIN))]
Viewers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.TECHNICIAN))]
Operators = Annotated[Actor, Depends(allow(Role.ADMIN, Role.TECHNICIAN))]


def _out(device: Device) -> DeviceOut:
    return DeviceOut(id=device.id, name=device.name, room=device.room, model_id=device.model_id,
                     created_at=device.created_at, revoked=device.revoked_at is not None, revoked_at=device.revoked_at,
                     last_seen_at=device.last_seen_at, last_seen_from=device.last_seen_from,
                     acked_cursor=render(device.acked_seq), acked_at=device.acked_at,
                     activated_at=device.provision_used_at, activated_from=device.provision_used_from,
                     provisioning_expires_at=None if device.provision_used_at else device.provision_expires_at)


def _provisioned(device: Device, token: str, payload: str) -> ProvisionedOut:
    assert device.provision_expires_at is not None
    return ProvisionedOut(device=_out(device), provisioning_token=token, expires_at=device.provision_expires_at,
                          qr_payload=payload)


def server_url(request: Request, public_url: str | None) -> str:
    """The URL a kiosk reaches this server at, for its QR payload (also the kiosks page's)."""
    return (public_url or str(request.base_url)).rstrip("/")


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(_: Viewers, session: SessionDep,
                 room: Annotated[str | None, Query(max_length=64)] = None,
                 include_revoked: bool = False) -> list[DeviceOut]:
    return [_out(d) for d in service.listing(session, room, include_revoked)]


@router.post("/devices", response_model=ProvisionedOut, status_code=status.HTTP_201_CREATED)
def register_device(body: DeviceIn, actor: Admin, session: SessionDep, settings: SettingsDep, faces: FacesDep,
                    request: Request) -> ProvisionedOut:
    """Register a kiosk. Its provisioning token and the QR payload (server URL + device + token) are
    shown only in this response (the server keeps a hash); the token works once, within
    LABGATE_PROVISIONING_TOKEN_HOURS: the kiosk exchanges it for its own device token."""
    default_model = None if body.model_id else faces.model_id()
    device, token, payload = service.register(session, actor, body, server_url(request, settings.public_url),
                                              default_model, settings.provisioning_token_hours)
    return _provisioned(device, token, payload)


@router.get("/devices/{device_id}", response_model=DeviceDetailOut)
def get_device(device_id: DeviceId, _: Viewers, session: SessionDep) -> DeviceDetailOut:
    """A kiosk with its health as the server sees it: last seen, feed acknowledgement, sequence gaps."""
    device = service.get(session, device_id)
    count, top = sequence.summary(session, device.id)
    return DeviceDetailOut(**_out(device).model_dump(), events=count, max_seq=top,
                           missing_seq=sequence.missing(session, device.id),
                           pending_commands=service.pending_commands(session, device.id))


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def update_device(device_id: DeviceId, body: DevicePatch, actor: Admin, session: SessionDep) -> DeviceOut:
    """Rename, move to another room, or switch the model whose templates the kiosk receives (then send
    it a resync command)."""
    return _out(service.update(session, actor, device_id, body))


@router.post("/devices/{device_id}:revoke", response_model=DeviceOut)
def revoke_device(device_id: DeviceId, actor: Admin, session: SessionDep) -> DeviceOut:
    """Revoke a kiosk: its token stops working at once (its requests get 401)."""
    return _out(service.revoke(session, actor, device_id))


@router.post("/devices/{device_id}:rotate-token", response_model=ProvisionedOut)
def rotate_token(device_id: DeviceId, actor: Admin, session: SessionDep, settings: SettingsDep,
                 request: Request) -> ProvisionedOut:
    """Provision a kiosk again: its device token stops working at once, and a new provisioning token
    (one use, short-lived) and QR payload are shown once, as at registration."""
    device, token, payload = service.reprovision(session, actor, device_id, server_url(request, settings.public_url),
                                                 settings.provisioning_token_hours)
    return _provisioned(device, token, payload)


@router.get("/devices/{device_id}/commands", response_model=list[CommandOut])
def list_commands(device_id: DeviceId, _: Viewers, session: SessionDep,
                  pending: Annotated[bool, Query(description="only commands not yet acknowledged")] = False,
                  ) -> list[CommandOut]:
    service.get(session, device_id)
    return [CommandOut(**service.as_dict(c)) for c in service.commands(session, device_id, pending)]


@router.post("/devices/{device_id}/commands", response_model=CommandOut, status_code=status.HTTP_201_CREATED)
def queue_command(device_id: DeviceId, body: CommandIn, actor: Operators, session: SessionDep) -> CommandOut:
    """Queue a command; the kiosk gets it with its next pull and acknowledges it."""
    return CommandOut(**service.as_dict(service.queue_command(session, actor, device_id, body)))
