"""The kiosk's side of auth: ``DeviceAuth`` accepts only the token of the device named in the path.

A user's access token here is refused with 403 (it is valid, just not for this endpoint); anything
else is 401, so the kiosk knows to show "device not authorised".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.auth.dependencies import KeysDep
from server.auth.tokens import TokenError, read_access
from server.core.dependencies import ClientDep, SessionDep
from server.core.errors import Forbidden, Unauthenticated
from server.devices import service
from server.devices.tables import Device

device_bearer = HTTPBearer(
    auto_error=False, scheme_name="DeviceToken",
    description="A kiosk's token from device registration (POST /api/v1/devices), for the device in the path.",
)

DeviceId = Annotated[str, Path(min_length=1, max_length=64, description="the device's id")]


class DeviceGuard:
    """Marks an endpoint as the kiosks' (the role matrix and the OpenAPI document read it)."""

    def __call__(self, device_id: DeviceId, session: SessionDep, keys: KeysDep, client: ClientDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Security(device_bearer)]) -> Device:
        if credentials is None:
            raise Unauthenticated("send the device token: 'Authorization: Bearer <device token>'")
        try:
            read_access(keys.jwt_secret, credentials.credentials)
        except TokenError:
            return service.authenticate(session, device_id, credentials.credentials, client)
        raise Forbidden("this endpoint is for kiosks and takes a device token, not a user's access token")


device_guard = DeviceGuard()
DeviceAuth = Annotated[Device, Depends(device_guard)]
