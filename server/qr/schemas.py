"""QR tokens at the edge."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.core.clock import UtcTime


class QrTokenOut(BaseModel):
    token: str = Field(description="LG1.<base64url payload>.<base64url Ed25519 signature>; show it as a QR code")
    number: str
    jti: str
    expires_at: UtcTime
