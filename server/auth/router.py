"""Sign in, refresh, sign out, and the signed-in person's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from server.auth import service
from server.auth.actor import Actor
from server.auth.dependencies import AnyRole, KeysDep, allow
from server.auth.roles import Role
from server.auth.schemas import (
    LoginIn,
    MeOut,
    PasswordChangeIn,
    PasswordSetIn,
    RefreshIn,
    RevokedOut,
    TokensOut,
    UnlockedOut,
)
from server.core.dependencies import ClientDep, SessionDep
from server.core.problems import documented

router = APIRouter(tags=["auth"])


def _tokens(tokens: service.Tokens) -> TokensOut:
    return TokensOut.model_validate(tokens, from_attributes=True)


@router.post("/auth/login", response_model=TokensOut, responses=documented(429, 503))
def login(body: LoginIn, session: SessionDep, keys: KeysDep, client: ClientDep) -> TokensOut:
    """Sign in with number and password; the tokens carry the role acted in. A person with several
    roles names one in ``role``: without it the answer is a 422 problem whose ``roles`` member lists
    them (the password was right; nothing is issued). Attempts are counted per number and address
    and delayed when they fail too often (429 with Retry-After, see docs/server.md); when every
    password-hashing turn is busy the answer is 503 with Retry-After."""
    return _tokens(service.login(session, keys, body.number, body.password, body.role, client))


@router.post("/auth/refresh", response_model=TokensOut)
def refresh(body: RefreshIn, session: SessionDep, keys: KeysDep) -> TokensOut:
    """A new access token and a new refresh token for a refresh token, which is then spent. Using a
    spent one again revokes the whole login."""
    return _tokens(service.refresh(session, keys, body.refresh_token))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(body: RefreshIn, session: SessionDep) -> None:
    """Revoke the login this refresh token belongs to."""
    service.logout(session, body.refresh_token)


@router.get("/me", response_model=MeOut)
def me(actor: AnyRole) -> MeOut:
    """The signed-in person and the role they act in."""
    return MeOut(person_id=actor.person_id, number=actor.number, name=actor.name, role=actor.role,  # type: ignore[arg-type]
                 roles=list(actor.roles))  # type: ignore[arg-type]


@router.put("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordChangeIn, actor: AnyRole, session: SessionDep, keys: KeysDep) -> None:
    """Change one's own password; every other login of the account is signed out."""
    service.change_own_password(session, keys, actor, body.current_password, body.new_password)


@router.put("/people/{person_id}/password", status_code=status.HTTP_204_NO_CONTENT, tags=["people"])
def set_password(person_id: Annotated[str, Path(min_length=1, max_length=64)], body: PasswordSetIn,
                 actor: Annotated[Actor, Depends(allow(Role.ADMIN))], session: SessionDep, keys: KeysDep) -> None:
    """Set a person's password (admin); their logins are signed out."""
    service.set_password(session, keys, actor, person_id, body.password)


@router.delete("/people/{person_id}/sessions", response_model=RevokedOut, tags=["people"])
def revoke_sessions(person_id: Annotated[str, Path(min_length=1, max_length=64)],
                    actor: Annotated[Actor, Depends(allow(Role.ADMIN))], session: SessionDep) -> RevokedOut:
    """Sign a person out everywhere: every refresh token is revoked (access tokens end within minutes)."""
    return RevokedOut(revoked=service.revoke_sessions(session, actor, person_id))


@router.delete("/people/{person_id}/login-limits", response_model=UnlockedOut, tags=["people"])
def unlock(person_id: Annotated[str, Path(min_length=1, max_length=64)],
           actor: Annotated[Actor, Depends(allow(Role.ADMIN))], session: SessionDep) -> UnlockedOut:
    """Clear a person's failed-login counts from every address, so they can sign in again at once."""
    return UnlockedOut(cleared=service.unlock(session, actor, person_id))
