"""Technician mode: the device's health, model and sync state, a field to paste the server's
provisioning code (``on_provision``; a USB keyboard or barcode scanner types into it), and the way
into enrolment (``kiosk.screen.enrol``, plugged in through ``on_enrol``; the button is disabled
without it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import customtkinter as ctk

from device.events import parse_iso
from kiosk.screen.enrol_text import text as enrol_text
from kiosk.strings import CATALOGUE, text

SYNC_COLOURS = {"ok": "#58d68d", "offline": "#f5b041", "unauthorised": "#ec7063", "error": "#ec7063"}
DETAIL_CHARS = 220  # a long error is cut here on screen (labgate-sync status shows it whole)


def sync_words(sync: dict[str, Any], lang: str) -> str:
    """The sync state as the technician reads it: unprovisioned, connected, offline, not authorised
    (revoked), error, standby."""
    state = str(sync.get("state") or "unprovisioned")
    if state == "unauthorised" and "revoked" in str(sync.get("detail") or ""):
        return text("tech.sync.revoked", lang)
    key = f"tech.sync.{state}"
    return text(key, lang) if key in CATALOGUE else state


class TechnicianPanel(ctk.CTkFrame):
    def __init__(self, master: ctk.CTkBaseClass, on_exit: Callable[[], None],
                 on_enrol: Callable[[], None] | None = None,
                 on_provision: Callable[[str], tuple[bool, str]] | None = None) -> None:
        super().__init__(master, fg_color="transparent")
        self.on_enrol = on_enrol
        self.on_provision = on_provision
        self.lang = "id"
        self._note_state: str | None = None  # the sync state when the note was written; it goes when that changes
        self._state = ""
        self.title = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=22, weight="bold"), wraplength=380,
                                  justify="left")
        self.title.pack(pady=(4, 8), anchor="w")
        self.lines: dict[str, ctk.CTkLabel] = {}
        for key in ("model", "people", "outbox", "camera", "sync", "sync_detail", "sync_last"):
            size = 14 if key == "sync_detail" else 16
            weight = "bold" if key == "sync" else "normal"
            label = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=size, weight=weight), anchor="w",
                                 justify="left", wraplength=400)
            label.pack(fill="x", pady=1)
            self.lines[key] = label
        self.default_colour = self.lines["sync"].cget("text_color")
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(fill="x", pady=(8, 0))
        self.code = ctk.CTkEntry(row, height=40, font=ctk.CTkFont(size=14))
        self.code.pack(side="left", fill="x", expand=True, padx=(0, 6))
        self.code.bind("<Return>", lambda _event: self.save_code())
        self.save = ctk.CTkButton(row, text="", width=110, height=40, command=self.save_code,
                                  state="normal" if on_provision else "disabled")
        self.save.pack(side="right")
        self.note = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=14), text_color="#f5b041", anchor="w",
                                 justify="left", wraplength=400)
        self.note.pack(fill="x")
        self.enrol = ctk.CTkButton(self, text="", height=48, font=ctk.CTkFont(size=20),
                                   command=on_enrol or (lambda: None), state="normal" if on_enrol else "disabled")
        self.enrol.pack(fill="x", pady=(8, 6))
        self.exit = ctk.CTkButton(self, text="", height=48, font=ctk.CTkFont(size=20), fg_color="#7f8c8d",
                                  command=on_exit)
        self.exit.pack(fill="x", pady=4)

    def refresh(self, lang: str, who: str, health: dict[str, Any]) -> None:
        relabel = lang != self.lang or not self.save.cget("text")
        self.lang = lang
        self.title.configure(text=text("tech.title", lang, name=who))
        self.lines["model"].configure(text=text("tech.model", lang, model=health["model_id"]))
        decision = health.get("decision") or {}
        if decision.get("expected_fpir") is not None:
            self.lines["people"].configure(text=text("tech.people_fpir", lang, count=health["gallery_people"],
                                                     accept=f"{decision['accept']:.3f}",
                                                     fpir=f"{decision['expected_fpir'] * 100:.2g}"))
        else:
            self.lines["people"].configure(text=text("tech.people", lang, count=health["gallery_people"]))
        self.lines["outbox"].configure(text=text("tech.outbox", lang, count=health["outbox"]))
        camera = health["camera"]
        self.lines["camera"].configure(text=text("tech.camera", lang, status=camera["status"], fps=camera["fps"]))
        sync = health.get("sync") or {}
        state = str(sync.get("state") or "unprovisioned")
        if self._note_state is not None and state != self._note_state:
            self.note.configure(text="")
            self._note_state = None
        self._state = state
        self.lines["sync"].configure(text=text("tech.sync", lang, state=sync_words(sync, lang)),
                                     text_color=SYNC_COLOURS.get(state, self.default_colour))
        detail = str(sync.get("provisioning_refused") or sync.get("detail") or "")  # the newest news first
        self.lines["sync_detail"].configure(text=detail if len(detail) <= DETAIL_CHARS else detail[:DETAIL_CHARS] + "…")
        issues = sync.get("issues") or {}
        last = health.get("last_sync")
        when = datetime.fromtimestamp(parse_iso(last)).strftime("%Y-%m-%d %H:%M:%S") if last else text("tech.never",
                                                                                                          lang)
        line = text("tech.sync_last", lang, when=when)
        if issues.get("conflict") or issues.get("rejected"):
            line += " · " + text("tech.sync_issues", lang, conflict=issues.get("conflict", 0),
                                 rejected=issues.get("rejected", 0))
        self.lines["sync_last"].configure(text=line)
        if relabel:
            self.code.configure(placeholder_text=text("tech.provision_hint", lang))
            self.save.configure(text=text("tech.provision_save", lang))
        self.enrol.configure(text=enrol_text("enrol.open", lang) if self.on_enrol else text("tech.enrol", lang))
        self.exit.configure(text=text("tech.exit", lang))

    def save_code(self) -> None:
        """Hand the pasted provisioning code to the kiosk; say whether it was kept."""
        if self.on_provision is None:
            return
        payload = self.code.get().strip()
        if not payload:
            return
        kept, why = self.on_provision(payload)
        self._note_state = self._state
        if kept:
            self.code.delete(0, "end")
            self.note.configure(text=text("tech.provision_kept", self.lang))
        else:
            self.note.configure(text=text("tech.provision_refused", self.lang, why=why))
