"""QR fallback tokens for oneself or, by staff, for someone at the door."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from server.auth.actor import Actor
from server.auth.dependencies import AnyRole, allow
from server.auth.roles import Role
from server.core.dependencies import SessionDep, SettingsDep
from server.qr import service
from server.qr.schemas import QrTokenOut
from server.qr.signing import QrSigner

router = APIRouter(tags=["qr"])


async def get_signer(request: Request) -> QrSigner:
    signer: QrSigner = request.app.state.qr_signer
    return signer


SignerDep = Annotated[QrSigner, Depends(get_signer)]


def _issue(session: SessionDep, signer: QrSigner, seconds: int, actor: Actor, person_id: str) -> QrTokenOut:
    issued, expires = service.issue(session, signer, seconds, actor, person_id)
    return QrTokenOut(token=issued.token, number=issued.payload["number"], jti=issued.payload["jti"],
                      expires_at=expires)


@router.post("/me/qr-token", response_model=QrTokenOut, status_code=status.HTTP_201_CREATED)
def my_qr_token(actor: AnyRole, session: SessionDep, settings: SettingsDep, signer: SignerDep) -> QrTokenOut:
    """A short-lived token to show at the kiosk as a QR code when the face is not recognised."""
    return _issue(session, signer, settings.qr_token_seconds, actor, actor.person_id)


@router.post("/people/{person_id}/qr-token", response_model=QrTokenOut, status_code=status.HTTP_201_CREATED)
def qr_token_for(person_id: Annotated[str, Path(min_length=1, max_length=64)],
                 actor: Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.TECHNICIAN))],
                 session: SessionDep, settings: SettingsDep, signer: SignerDep) -> QrTokenOut:
    """A QR token for someone else (audited)."""
    return _issue(session, signer, settings.qr_token_seconds, actor, person_id)
