"""Login, tokens and the signed-in person, at the edge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.auth.roles import Role

NUMBER_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$"


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=40, description="NIM or NIP", examples=["2201234567"])
    password: str = Field(min_length=1, max_length=1024)
    role: Role | None = Field(default=None, description="the role to act in; needed when the person holds several")


class TokensOut(BaseModel):
    kind: Literal["tokens"] = "tokens"
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token lives")
    refresh_token: str = Field(description="send to POST /api/v1/auth/refresh; each one works once")
    role: Role
    roles: list[Role]


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class MeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: str
    number: str
    name: str
    role: Role
    roles: list[Role]


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


class RevokedOut(BaseModel):
    revoked: int = Field(description="refresh tokens revoked")


class UnlockedOut(BaseModel):
    cleared: int = Field(description="failed-login counts cleared")
