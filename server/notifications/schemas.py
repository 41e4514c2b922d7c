"""Notifications at the edge: contacts, push tokens, preferences, outbox messages, announcements."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.auth.roles import Role
from server.core.clock import UtcTime
from server.notifications.claims import WINDOW
from server.notifications.kinds import Channel, Delivery, Language, Status, Topic
from server.notifications.tables import Announcement, Contact, Message, PushToken


class ContactIn(BaseModel):
    """Fields left out stay as they are; ``null`` clears an address."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=254, examples=["siti@student.example.ac.id"])
    whatsapp: str | None = Field(default=None, max_length=40, description="with its country code, or an Indonesian "
                                 "number; stored in E.164", examples=["0812-3456-7890"])
    language: Language | None = Field(default=None, description="the language of the messages: id or en")


class ContactOut(BaseModel):
    person_id: str
    email: str | None
    whatsapp: str | None = Field(description="E.164", examples=["+6281234567890"])
    language: Language
    whatsapp_window_until: UtcTime | None = Field(
        description="until when WhatsApp messages may be free text (24 h after the person last wrote to us)")
    updated_at: UtcTime

    @classmethod
    def of(cls, row: Contact) -> ContactOut:
        until = row.whatsapp_inbound_at + WINDOW if row.whatsapp_inbound_at else None
        return cls(person_id=row.person_id, email=row.email, whatsapp=row.whatsapp, language=Language(row.language),
                   whatsapp_window_until=until, updated_at=row.updated_at)


TokenText = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[\x21-\x7e]+$",
                                 description="the FCM registration token of this phone")]


class PushTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: TokenText
    platform: Literal["android", "ios", "web"] = "android"


class PushTokenOut(BaseModel):
    id: str
    platform: str
    token_end: str = Field(description="the token's last 6 characters (the whole token is not shown again)")
    created_at: UtcTime
    seen_at: UtcTime

    @classmethod
    def of(cls, row: PushToken) -> PushTokenOut:
        return cls(id=row.id, platform=row.platform, token_end=row.token[-6:], created_at=row.created_at,
                   seen_at=row.seen_at)


Channels = Annotated[list[Channel], Field(max_length=3, examples=[["email", "push"]])]
ReminderMinutes = Literal[0, 10, 30, 60, 1440]  # contacts.REMINDER_CHOICES
REMINDER_HELP = "how many minutes before a booking starts its reminder comes: 0 (none), 10, 30, 60 or 1440 (a day)"


class PreferencesOut(BaseModel):
    """Per topic, the channels the person gets it by (when they have the address)."""

    announcements: Channels
    bookings: Channels
    recruitment: Channels
    attendance: Channels
    booking_reminder_minutes: ReminderMinutes = Field(description=REMINDER_HELP)


class PreferencesIn(BaseModel):
    """Per topic given, exactly these channels; topics left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    announcements: Channels | None = None
    bookings: Channels | None = None
    recruitment: Channels | None = None
    attendance: Channels | None = None
    booking_reminder_minutes: ReminderMinutes | None = Field(default=None, description=REMINDER_HELP)

    def chosen(self) -> dict[Topic, list[Channel]]:
        topics = {t.value for t in Topic}
        return {Topic(name): value for name, value in self.model_dump(exclude_none=True).items() if name in topics}


class MessageOut(BaseModel):
    id: str
    person_id: str
    channel: Channel
    topic: Topic
    template: str
    language: Language
    address: str
    subject: str
    status: Status
    attempts: int
    last_error: str | None
    provider_id: str | None
    delivery: Delivery | None
    next_attempt_at: UtcTime = Field(description="queued: when it is due; sending: when its claim lapses")
    created_at: UtcTime
    updated_at: UtcTime
    sent_at: UtcTime | None
    delivered_at: UtcTime | None
    read_at: UtcTime | None

    @classmethod
    def of(cls, row: Message) -> MessageOut:
        return cls(id=row.id, person_id=row.person_id, channel=Channel(row.channel), topic=Topic(row.topic),
                   template=row.template, language=Language(row.language), address=row.address, subject=row.subject,
                   status=Status(row.status), attempts=row.attempts, last_error=row.last_error,
                   provider_id=row.provider_id, delivery=Delivery(row.delivery) if row.delivery else None,
                   next_attempt_at=row.next_attempt_at, created_at=row.created_at, updated_at=row.updated_at,
                   sent_at=row.sent_at, delivered_at=row.delivered_at, read_at=row.read_at)


class MessagesPage(BaseModel):
    items: list[MessageOut]
    total: int
    offset: int
    limit: int


class AudienceIn(BaseModel):
    """Everyone (every active person), or the active holders of some roles and/or a list of people."""

    model_config = ConfigDict(extra="forbid")

    everyone: bool = False
    roles: list[Role] = Field(default_factory=list, max_length=6)
    people: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=5000,
                                                                              description="person ids")

    @model_validator(mode="after")
    def _one_kind(self) -> AudienceIn:
        if self.everyone and (self.roles or self.people):
            raise ValueError("everyone already includes every role and person: send everyone alone")
        if not (self.everyone or self.roles or self.people):
            raise ValueError("say who the announcement is for: everyone, roles, or people")
        return self


class AnnouncementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, pattern=r"\S", examples=["Lab tutup Jumat 29 November"])
    body: str = Field(min_length=1, max_length=10_000, pattern=r"\S",
                      examples=["Perawatan AC sepanjang hari. Praktikum dipindah ke LAB-2."])
    audience: AudienceIn


class AnnouncementOut(BaseModel):
    id: str
    title: str
    body: str
    audience: dict[str, Any] = Field(examples=[{"roles": ["student"]}])
    author_id: str | None
    author_name: str
    recipients: int = Field(description="how many people it was for")
    created_at: UtcTime

    @classmethod
    def of(cls, row: Announcement) -> AnnouncementOut:
        return cls(id=row.id, title=row.title, body=row.body, audience=row.audience, author_id=row.author_id,
                   author_name=row.author_name, recipients=row.recipients, created_at=row.created_at)


class AnnouncementsPage(BaseModel):
    items: list[AnnouncementOut]
    total: int
    offset: int
    limit: int


class WebhookIn(BaseModel):
    """A WhatsApp Cloud API webhook notification (fields beyond these are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    object: str | None = Field(default=None, examples=["whatsapp_business_account"])
    entry: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)


class WebhookOut(BaseModel):
    statuses: int = Field(description="delivery statuses applied to our messages")
    messages: int = Field(description="messages from people (each opens their 24-hour window)")

