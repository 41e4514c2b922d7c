"""Who may call an endpoint: ``allow(Role.ADMIN, ...)`` is the one way an endpoint declares its roles.

The guard reads the bearer access token, checks it against the database on every request (one
indexed query: the person is active and still holds the token's role) and refuses any role the
endpoint did not name with 403. ``guards_of`` lets the OpenAPI document and the tests read the policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.auth import service
from server.auth.actor import Actor
from server.auth.loop_reads import ActorReads
from server.auth.roles import EVERYONE, Role
from server.core.dependencies import SessionDep
from server.core.errors import Forbidden, Unauthenticated

user_bearer = HTTPBearer(
    auto_error=False, scheme_name="UserToken",
    description="An access token from POST /api/v1/auth/login (a JWT carrying the active role).",
)


async def get_keys(request: Request) -> service.Keys:
    keys: service.Keys = request.app.state.auth_keys
    return keys


KeysDep = Annotated[service.Keys, Depends(get_keys)]


class RoleGuard:
    """A dependency that lets in only the roles it was built with."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, request: Request, session: SessionDep, keys: KeysDep,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Security(user_bearer)]) -> Actor:
        """Runs in the event loop: the token's signature here, the person's row too (``ActorReads``:
        no worker thread), so the endpoint's crossing to a worker thread is the request's only one."""
        if credentials is None:
            raise Unauthenticated("sign in first: send 'Authorization: Bearer <access token>' from "
                                  "POST /api/v1/auth/login")
        claims = service.claims_of(keys, credentials.credentials)
        reads: ActorReads = request.app.state.actor_reads
        actor = await reads.actor(session, claims)
        if actor.role not in self.roles:
            allowed = ", ".join(sorted(self.roles))
            raise Forbidden(f"the role {actor.role} may not do this; allowed: {allowed}")
        return actor

    def __repr__(self) -> str:
        return f"RoleGuard({sorted(self.roles)})"


def allow(*roles: Role) -> RoleGuard:
    return RoleGuard(roles)


def guards_of(route: APIRoute) -> list[RoleGuard]:
    """The role guards a route depends on, however deep."""
    found: list[RoleGuard] = []
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, RoleGuard):
            found.append(dependant.call)
        stack.extend(dependant.dependencies)
    return found


AnyRole = Annotated[Actor, Depends(allow(*EVERYONE))]
