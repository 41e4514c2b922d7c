"""The kiosk's side of the protocol: activation (the provisioning token, once), the changes feed and
its acknowledgements (device token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from server.core.dependencies import ClientDep, SessionDep, SettingsDep
from server.devices import service
from server.devices.dependencies import DeviceAuth, DeviceId
from server.devices.schemas import ActivatedOut, ActivateIn
from server.feed import service as feed
from server.feed.cursor import render
from server.feed.schemas import AckIn, AckOut, ChangesOut, CommandAckIn, CommandAckOut
from server.qr.signing import QrSigner

router = APIRouter(tags=["kiosk protocol"])


@router.post("/devices/{device_id}:activate", response_model=ActivatedOut)
def activate(device_id: DeviceId, body: ActivateIn, session: SessionDep, client: ClientDep) -> ActivatedOut:
    """Exchange the provisioning token from the QR code, once, for the device token the kiosk made: its
    bearer token from now on. The token's second use is refused (409), an expired one too (401); the
    same kiosk asking again with the same device token (its answer was lost) gets the same answer."""
    device = service.activate(session, device_id, body.provisioning_token, body.device_token, client)
    assert device.provision_used_at is not None
    return ActivatedOut(device_id=device.id, name=device.name, room=device.room, activated_at=device.provision_used_at)


@router.get("/devices/{device_id}/changes", response_model=ChangesOut)
def changes(device_id: DeviceId, device: DeviceAuth, session: SessionDep, settings: SettingsDep, request: Request,
            cursor: Annotated[str | None, Query(max_length=40, description="next_cursor of the last page; none "
                                                                             "to start from the beginning")] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> ChangesOut:
    """People, templates for the device's model, removed templates, tombstones, the bookings of the
    device's room for today and tomorrow, config, pending commands and the QR public key. Apply the
    page in one transaction, then acknowledge its cursor."""
    page = feed.page(session, device, cursor, limit)
    signer: QrSigner = request.app.state.qr_signer
    return ChangesOut.model_validate({
        **page.__dict__, "qr_public_key": signer.public_key_b64,
        "config": {"room": device.room, "name": device.name, "model_id": device.model_id,
                   "timezone": settings.timezone},
    })


@router.post("/devices/{device_id}/changes:ack", response_model=AckOut)
def ack_changes(device_id: DeviceId, body: AckIn, device: DeviceAuth, session: SessionDep) -> AckOut:
    """The kiosk applied everything up to ``cursor`` (so, for instance, an erasure reached it)."""
    return AckOut(acked_cursor=render(service.ack_changes(session, device, body.cursor)))


@router.post("/devices/{device_id}/commands/{command_id}:ack", response_model=CommandAckOut)
def ack_command(device_id: DeviceId, command_id: Annotated[str, Path(min_length=1, max_length=64)],
                body: CommandAckIn, device: DeviceAuth, session: SessionDep) -> CommandAckOut:
    """The kiosk ran a command (``ok``) or could not (``detail`` says why). A repeat is answered the same."""
    command = service.ack_command(session, device, command_id, body.ok, body.detail)
    return CommandAckOut(id=command.id, ok=command.ok, acked_at=command.acked_at)
