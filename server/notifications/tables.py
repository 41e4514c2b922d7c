"""Contacts, push tokens and channel preferences (personal data: the person and admins only), the
outbox of messages, and announcements with the people each was for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.core.database import Base


class Contact(Base):
    """Where a person can be reached and in which language; one row per person, made on first write."""

    __tablename__ = "contacts"

    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))
    whatsapp: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164, e.g. +6281234567890
    language: Mapped[str] = mapped_column(String(2))  # id | en
    whatsapp_inbound_at: Mapped[datetime | None]  # when they last wrote to us: free text for 24 h after
    updated_at: Mapped[datetime]


class PushToken(Base):
    """An FCM registration token of one of the person's phones; a token belongs to one person at a time."""

    __tablename__ = "push_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(512), unique=True)
    platform: Mapped[str] = mapped_column(String(16))  # android | ios | web
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class Preference(Base):
    """A person's choice for one channel on one topic; no row means the default (every channel they
    have an address for)."""

    __tablename__ = "notification_preferences"

    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool]


class Message(Base):
    """One message to one address on one channel: an outbox row, written in the transaction of the
    change it tells about, sent later by a sender that claims it. ``key`` makes a retried ``notify``
    a no-op; ``next_attempt_at`` is when a queued row is due, and for a claimed row the end of its lease."""

    __tablename__ = "notification_messages"
    __table_args__ = (Index("ix_notification_messages_due", "channel", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    notification_key: Mapped[str] = mapped_column(String(200), index=True)  # the caller's dedupe key
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2))
    address: Mapped[str] = mapped_column(String(512))  # email, E.164 number or FCM token, when queued
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    short: Mapped[str] = mapped_column(Text)  # push body, WhatsApp template parameter
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # extra key/values for the phone app (push)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    claim: Mapped[str | None] = mapped_column(String(36))  # the sender's token while it holds the row
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(300), index=True)
    delivery: Mapped[str | None] = mapped_column(String(10))  # delivered | read (WhatsApp webhook)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]


class Attachment(Base):
    """A file sent with the email messages of one ``notify`` call (a certificate): kept once per dedupe
    key, read by the email channel only."""

    __tablename__ = "notification_attachments"

    notification_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Announcement(Base):
    __tablename__ = "announcements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"everyone": true} | {"roles": [...]} | {"people": [...]}
    author_id: Mapped[str | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    author_name: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)  # author id + client's key
    recipients: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class AnnouncementRecipient(Base):
    """Who an announcement was for (fixed when posted), so each of them can read it later."""

    __tablename__ = "announcement_recipients"

    announcement_id: Mapped[str] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"),
                                                 primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True,
                                           index=True)
