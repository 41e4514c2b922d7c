"""The six roles. A person may hold several; a token carries the one chosen at login."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    HEAD = "head"  # head of the lab
    TECHNICIAN = "technician"
    LECTURER = "lecturer"
    ASSISTANT = "assistant"  # lab assistant
    STUDENT = "student"


EVERYONE = tuple(Role)
