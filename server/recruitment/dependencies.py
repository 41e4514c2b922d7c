"""What recruitment's endpoints need: the file storage, the server's public address, who runs what."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from server.auth.actor import Actor
from server.auth.dependencies import allow
from server.auth.roles import EVERYONE, Role
from server.core.settings import Settings
from server.recruitment.storage import FolderStorage, Storage


def storage_for(settings: Settings) -> Storage:
    return FolderStorage(settings.data_dir / "recruitment")


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.recruitment_storage
    return storage


async def base_url(request: Request) -> str:
    """Where people reach the server: LABGATE_PUBLIC_URL, else the address this request came to."""
    settings: Settings = request.app.state.settings
    return (settings.public_url or str(request.base_url)).rstrip("/")


StorageDep = Annotated[Storage, Depends(get_storage)]
BaseUrlDep = Annotated[str, Depends(base_url)]
Anyone = Annotated[Actor, Depends(allow(*EVERYONE))]
Runners = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.LECTURER))]
Admins = Annotated[Actor, Depends(allow(Role.ADMIN))]
Students = Annotated[Actor, Depends(allow(Role.STUDENT))]
Assistants = Annotated[Actor, Depends(allow(Role.ASSISTANT))]
Readers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.LECTURER, Role.ASSISTANT))]
