"""The server's settings: one typed model read from ``LABGATE_*`` environment variables.

A wrong value stops the start with a message naming the variable and what it accepts.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from ipaddress import ip_network
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.enrolment import CONSISTENCY


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABGATE_", extra="ignore", frozen=True)

    database_url: str = Field(default=
        "sqlite:///labgate-server.db",
        description="sqlite:///path/to/file.db (default) or postgresql://user@host:5432/dbname",
    )
    public_url: str | None = Field(default=None, description="the URL kiosks reach the server at (QR provisioning)")
    host: str = "127.0.0.1"
    port: int = Field(default=8480, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = Field(default="info", pattern="^(critical|error|warning|info|debug)$")

    secret_key: SecretStr | None = Field(default=None,
                                         description="JWT signing key; made and kept in the database if unset")
    access_token_minutes: int = Field(default=15, ge=1, le=1440)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    web_session_hours: float = Field(default=12.0, gt=0, le=720,
                                     description="how long a sign-in on the web pages lasts")
    login_max_failures: int = Field(default=5, ge=1, le=1000,
                                    description="failed logins per number from one address before delays begin")
    login_number_max_failures: int = Field(default=20, ge=1, le=10000, description=(
        "failed logins per number, from addresses it never signed in from, before delays begin there"))
    login_client_max_failures: int = Field(default=100, ge=1, le=100000, description=(
        "failed logins per address, for numbers that never signed in from it, before delays begin there"))
    login_window_seconds: int = Field(default=900, ge=1, le=86400,
                                      description="a count is forgotten after this long without a failure or a delay")
    login_delay_seconds: int = Field(default=60, ge=1, le=3600, description="the first delay; each failure doubles it")
    login_max_delay_seconds: int = Field(default=3600, ge=1, le=86400, description="the longest delay")
    login_known_days: int = Field(default=90, ge=1, le=3650,
                                  description="an address a number signed in from counts as its own this long")
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65536, ge=8, le=4_194_304)
    argon2_parallelism: int = Field(default=2, ge=1, le=16)
    argon2_max_concurrent: int = Field(default=2, ge=1, le=64,
                                       description="password hashes computed at once per process (each takes "
                                                   "argon2_memory_kib)")
    argon2_wait_seconds: float = Field(default=10.0, ge=0, le=120,
                                       description="how long a login waits for a turn before 503 + Retry-After")

    faces_enabled: bool = True
    models_dir: Path | None = Field(default=None,
                                    description="built face models; default $LABGATE_MODELS or artifacts/models")
    photo_max_bytes: int = Field(default=10_000_000, ge=1024, le=50_000_000)
    photo_max_pixels: int = Field(default=40_000_000, ge=10_000, le=40_000_000)
    faces_max_concurrent: int = Field(default=2, ge=1, le=64, description="photos analysed at once per process")
    faces_wait_seconds: float = Field(default=30.0, ge=0, le=600,
                                      description="how long an upload waits for a turn before 503 + Retry-After")
    face_consistency: float = Field(default=CONSISTENCY, gt=-1, lt=1, description=(
        "a photo must match the person's own templates at least this much (the kiosk's [enrol] consistency)"))
    store_photos: bool = False
    photo_dir: Path = Path("labgate-photos")

    data_dir: Path = Field(default=Path("labgate-data"), description=(
        "the server's files: recruitment's pamphlets, documents, photos and certificates go in <data_dir>/recruitment"))
    recruitment_max_bytes: int = Field(default=10_000_000, ge=10_000, le=50_000_000,
                                       description="largest pamphlet, transcript, document or attendance photo")

    provisioning_token_hours: float = Field(default=24.0, gt=0, le=720,
                                            description="how long a kiosk's one-time provisioning code works")
    qr_token_seconds: int = Field(default=300, ge=10, le=86400)
    qr_private_key: SecretStr | None = Field(default=None,
                                             description="base64 raw Ed25519 private key; generated if unset")

    timezone: str = Field(default="Asia/Jakarta",
                          description="the lab's time zone: attendance days begin at its midnight")
    booking_student_hours_per_week: float = Field(default=12.0, ge=0, le=168, description=(
        "a student's booked hours per week (Monday to Sunday, the lab's time zone); admins and staff are exempt"))
    booking_min_notice_minutes: int = Field(default=0, ge=0, le=10_080,
                                            description="how long before its start a booking must be made")
    booking_cancel_until_minutes: int = Field(default=15, ge=0, le=1440,
                                              description="a holder may cancel until this long after the start")
    booking_term_start: date | None = Field(default=None, description=(
        "the current term's first day: no-shows are counted from it (unset: the last 120 days)"))
    booking_job_seconds: float = Field(default=60.0, ge=0, le=3600, description=(
        "how often the server releases no-shows and sends bookings coming into the kiosks' window; 0: never"))
    trusted_proxies: str = Field(default="", description=(
        "comma-separated addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: none, the connecting address is the client"))
    request_max_bytes: int = Field(default=4_000_000, ge=10_000, le=100_000_000,
                                   description="largest non-photo request body")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"LABGATE_TIMEZONE={value!r} is not a known time zone; use one like Asia/Jakarta") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError(f"LABGATE_DATABASE_URL={value!r}: use sqlite:///file.db or postgresql://user@host/db")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for item in proxy_list(value):
            try:
                ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"LABGATE_TRUSTED_PROXIES: {item!r} is not an address or a network; use e.g. "
                                 "10.0.0.5,192.168.1.0/24") from exc
        return value

    @property
    def proxies(self) -> list[str]:
        return proxy_list(self.trusted_proxies)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def proxy_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
