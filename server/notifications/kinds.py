"""The fixed vocabularies of notifications: topics a person chooses channels for, the channels, the
languages messages are written in, and the states an outbox row goes through."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    ANNOUNCEMENTS = "announcements"
    BOOKINGS = "bookings"
    RECRUITMENT = "recruitment"
    ATTENDANCE = "attendance"


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"
    WHATSAPP = "whatsapp"


class Language(StrEnum):
    ID = "id"  # Bahasa Indonesia, the lab's default
    EN = "en"


class Status(StrEnum):
    QUEUED = "queued"  # waiting for its next attempt (next_attempt_at)
    SENDING = "sending"  # claimed by a sender until next_attempt_at (its lease); reclaimed after a crash
    SENT = "sent"  # the provider accepted it (provider_id)
    FAILED = "failed"  # a permanent error: no retry
    DEAD = "dead"  # transient errors until the attempts ran out; an admin may send it again


class Delivery(StrEnum):
    """What the provider reports later (WhatsApp's webhook); only forward: read implies delivered."""

    DELIVERED = "delivered"
    READ = "read"
