"""The notification settings, from ``LABGATE_*`` environment variables like the rest: the outbox and
its sender (``NOTIFY_*``), and one group per channel (``SMTP_*``, ``FCM_*``, ``WHATSAPP_*``). A channel
without its settings is off; ``state()`` says which variable turns it on."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.notifications.kinds import Channel


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABGATE_", extra="ignore", frozen=True)

    notify_sender: bool = Field(default=True, description="run a sender in each server process")
    notify_max_attempts: int = Field(default=8, ge=1, le=100, description="attempts before a message is dead")
    notify_backoff_seconds: float = Field(default=5.0, gt=0, le=3600, description="wait before the first retry; "
                                                                                   "doubles each time, jittered")
    notify_backoff_max_seconds: float = Field(default=3600.0, gt=0, le=86400)
    notify_lease_seconds: float = Field(default=120.0, gt=0, le=3600,
                                        description="how long a sender holds a claimed message; a crashed "
                                                    "sender's messages go out again after it")
    notify_poll_seconds: float = Field(default=1.0, gt=0, le=60, description="how often an idle sender looks")
    notify_concurrency: int = Field(default=8, ge=1, le=256, description="messages in flight per channel")

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="LabGate <labgate@localhost>", description="the From header and envelope sender")
    smtp_timeout: float = Field(default=10.0, gt=0, le=300)
    smtp_ca_file: Path | None = Field(default=None, description="PEM of the CA that signed the relay's certificate "
                                                                "(default: the system's)")

    fcm_credentials: Path | None = Field(default=None, description="the Firebase service-account key (JSON)")
    fcm_project_id: str | None = Field(default=None, description="default: the key's project_id")
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_timeout: float = Field(default=10.0, gt=0, le=300)

    whatsapp_base_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_phone_number_id: str | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = Field(default=None, description="checks the webhook's signature")
    whatsapp_verify_token: SecretStr | None = Field(default=None, description="answers the webhook's subscription")
    whatsapp_template: str = Field(default="labgate_notice", description="the approved template: {{1}} subject, "
                                                                         "{{2}} text; one per language")
    whatsapp_timeout: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> NotifySettings:
        longest = max(self.smtp_timeout, self.fcm_timeout, self.whatsapp_timeout)
        if self.notify_lease_seconds < 3 * longest:
            raise ValueError(f"LABGATE_NOTIFY_LEASE_SECONDS={self.notify_lease_seconds} must be at least three "
                             f"times the longest channel timeout ({longest} s): a message still being sent must not "
                             f"be taken by another sender")
        if self.fcm_credentials is not None and not self.fcm_credentials.is_file():
            raise ValueError(f"LABGATE_FCM_CREDENTIALS={self.fcm_credentials}: no such file; give the path of the "
                             f"Firebase service-account key (JSON)")
        return self

    def state(self) -> dict[Channel, str]:
        """Each channel: ``on`` or ``off: <what to set>`` (for the start-up log and /health)."""
        return {
            Channel.EMAIL: "on" if self.smtp_host else "off: set LABGATE_SMTP_HOST (and LABGATE_SMTP_FROM)",
            Channel.PUSH: "on" if self.fcm_credentials else "off: set LABGATE_FCM_CREDENTIALS (a service-account key)",
            Channel.WHATSAPP: "on" if self.whatsapp_phone_number_id and self.whatsapp_access_token else
            "off: set LABGATE_WHATSAPP_PHONE_NUMBER_ID and LABGATE_WHATSAPP_ACCESS_TOKEN",
        }

    def enabled(self) -> list[Channel]:
        return [channel for channel, state in self.state().items() if state == "on"]
