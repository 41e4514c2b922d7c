"""Technician mode: the device's health, model and sync state, and the way into enrolment
(``kiosk.screen.enrol``, plugged in through ``on_enrol``; the button is disabled without it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import customtkinter as ctk

from kiosk.screen.enrol_text import text as enrol_text
from kiosk.strings import text


class TechnicianPanel(ctk.CTkFrame):
    def __init__(self, master: ctk.CTkBaseClass, on_exit: Callable[[], None],
                 on_enrol: Callable[[], None] | None = None) -> None:
        super().__init__(master, fg_color="transparent")
        self.on_enrol = on_enrol
        self.title = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=22, weight="bold"), wraplength=360,
                                  justify="left")
        self.title.pack(pady=(8, 12), anchor="w")
        self.lines: dict[str, ctk.CTkLabel] = {}
        for key in ("model", "people", "outbox", "camera", "sync"):
            label = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=18), anchor="w")
            label.pack(fill="x", pady=2)
            self.lines[key] = label
        self.enrol = ctk.CTkButton(self, text="", height=56, font=ctk.CTkFont(size=20),
                                   command=on_enrol or (lambda: None), state="normal" if on_enrol else "disabled")
        self.enrol.pack(fill="x", pady=(18, 6))
        self.exit = ctk.CTkButton(self, text="", height=56, font=ctk.CTkFont(size=20), fg_color="#7f8c8d",
                                  command=on_exit)
        self.exit.pack(fill="x", pady=6)

    def refresh(self, lang: str, who: str, health: dict[str, Any]) -> None:
        self.title.configure(text=text("tech.title", lang, name=who))
        self.lines["model"].configure(text=text("tech.model", lang, model=health["model_id"]))
        self.lines["people"].configure(text=text("tech.people", lang, count=health["gallery_people"]))
        self.lines["outbox"].configure(text=text("tech.outbox", lang, count=health["outbox"]))
        camera = health["camera"]
        self.lines["camera"].configure(text=text("tech.camera", lang, status=camera["status"], fps=camera["fps"]))
        self.lines["sync"].configure(text=text("tech.sync", lang, when=health["last_sync"] or text("tech.never", lang)))
        self.enrol.configure(text=enrol_text("enrol.open", lang) if self.on_enrol else text("tech.enrol", lang))
        self.exit.configure(text=text("tech.exit", lang))
