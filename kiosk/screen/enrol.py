"""The technician's enrolment screen, in technician mode: who (type the NIM / NIP or pick from the
roster), consent (recorded with the technician and the policy version), a guided capture from the
door camera (a pose to take, each shot checked, the reason shown when one is not taken), then save.
Widgets only: the enrolment service (``kiosk.screen.enrolment`` says what the panel calls) decides
everything and audits it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Generic

import customtkinter as ctk
import numpy as np

from device.logs import LOGGER
from kiosk.screen.enrol_text import reason, text
from kiosk.screen.enrolment import Enrolment, Refusal, RosterRow, S

ROSTER_ROWS = 4
PAD = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "del", "0", "clear")
OK_COLOUR, WARN_COLOUR = "#58d68d", "#f5b041"
ARM_S = 5.0  # a second tap on "erase" within this many seconds erases
WIPE_WAIT_S = 1.0  # an erasure waits this long for the door's readers, then its wipe is retried in the background
WIPE_RETRY_MS = 2000


class EnrolPanel(ctk.CTkFrame, Generic[S]):
    def __init__(self, master: ctk.CTkBaseClass, service: Enrolment[S],
                 grab: Callable[[], np.ndarray | None], on_close: Callable[[], None]) -> None:
        super().__init__(master, fg_color="transparent")
        self.service, self.grab, self.on_close = service, grab, on_close
        self.lang = "id"
        self.technician = ""
        self.step = "who"  # who | consent | capture | result (tests read this)
        self.number = ""
        self.roster: Sequence[RosterRow] = []
        self.capture: S | None = None
        self.outcome = ""  # saved | duplicate | inconsistent | ... after a save (tests read this)
        self._armed_until = 0.0
        big = ctk.CTkFont(size=24, weight="bold")
        normal = ctk.CTkFont(size=18)
        self.title = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=22, weight="bold"), wraplength=390,
                                  justify="left")
        self.title.pack(fill="x", pady=(2, 6))
        self.steps: dict[str, ctk.CTkFrame] = {name: ctk.CTkFrame(self, fg_color="transparent")
                                               for name in ("who", "consent", "capture", "result")}
        self.buttons: dict[str, ctk.CTkButton] = {}

        who = self.steps["who"]
        self.number_label = ctk.CTkLabel(who, text="", font=ctk.CTkFont(size=22), fg_color="#2e86c1",
                                         corner_radius=8, height=40)
        self.number_label.pack(fill="x", pady=(0, 4))
        self.who_message = ctk.CTkLabel(who, text="", font=normal, text_color=WARN_COLOUR, wraplength=390)
        self.who_message.pack(fill="x")
        self.roster_rows: list[ctk.CTkButton] = []
        for row in range(ROSTER_ROWS):
            button = ctk.CTkButton(who, text="", height=32, anchor="w", fg_color="#2c3e50", font=normal,
                                   command=lambda r=row: self.pick(r))  # type: ignore[misc]
            button.pack(fill="x", pady=1)
            self.roster_rows.append(button)
        pad = ctk.CTkFrame(who, fg_color="transparent")
        pad.pack(pady=4)
        for i, key in enumerate(PAD):
            button = ctk.CTkButton(pad, text=key, width=118, height=40, font=big,
                                   command=lambda k=key: self.press(k))  # type: ignore[misc]
            button.grid(row=i // 3, column=i % 3, padx=3, pady=2)
            self.buttons[key] = button
        row = ctk.CTkFrame(who, fg_color="transparent")
        row.pack(fill="x", pady=(4, 0))
        self.buttons["back"] = ctk.CTkButton(row, text="", height=44, width=110, fg_color="#7f8c8d", font=normal,
                                             command=self.close)
        self.buttons["back"].pack(side="left", padx=(0, 4))
        self.buttons["remove"] = ctk.CTkButton(row, text="", height=44, width=130, fg_color="#922b21", font=normal,
                                               command=self.remove)
        self.buttons["remove"].pack(side="left", padx=4)
        self.buttons["next"] = ctk.CTkButton(row, text="", height=44, font=big, command=self.next)
        self.buttons["next"].pack(side="left", fill="x", expand=True, padx=(4, 0))

        consent = self.steps["consent"]
        self.consent_label = ctk.CTkLabel(consent, text="", font=normal, wraplength=390, justify="left")
        self.consent_label.pack(fill="x", pady=12)
        self.buttons["consent"] = ctk.CTkButton(consent, text="", height=64, font=big, fg_color="#1e8449",
                                                command=self.consent)
        self.buttons["consent"].pack(fill="x", pady=8)
        self.buttons["consent_back"] = ctk.CTkButton(consent, text="", height=48, fg_color="#7f8c8d", font=normal,
                                                     command=self.cancel)
        self.buttons["consent_back"].pack(fill="x", pady=4)

        capture = self.steps["capture"]
        self.guide_label = ctk.CTkLabel(capture, text="", font=ctk.CTkFont(size=28, weight="bold"), wraplength=390,
                                        text_color="#85c1e9")
        self.guide_label.pack(fill="x", pady=(8, 6))
        self.shot_label = ctk.CTkLabel(capture, text="", font=normal, wraplength=390, text_color=WARN_COLOUR)
        self.shot_label.pack(fill="x", pady=6)
        self.buttons["take"] = ctk.CTkButton(capture, text="", height=72, font=big, command=self.take)
        self.buttons["take"].pack(fill="x", pady=6)
        self.buttons["save"] = ctk.CTkButton(capture, text="", height=56, font=big, fg_color="#1e8449",
                                             command=self.save)
        self.buttons["save"].pack(fill="x", pady=6)
        row = ctk.CTkFrame(capture, fg_color="transparent")
        row.pack(fill="x", pady=6)
        self.buttons["restart"] = ctk.CTkButton(row, text="", height=48, fg_color="#7f8c8d", font=normal,
                                                command=self.restart)
        self.buttons["restart"].pack(side="left", fill="x", expand=True, padx=(0, 4))
        self.buttons["cancel"] = ctk.CTkButton(row, text="", height=48, fg_color="#7f8c8d", font=normal,
                                               command=self.cancel)
        self.buttons["cancel"].pack(side="left", fill="x", expand=True, padx=(4, 0))

        result = self.steps["result"]
        self.result_label = ctk.CTkLabel(result, text="", font=ctk.CTkFont(size=20, weight="bold"), wraplength=390,
                                         justify="left")
        self.result_label.pack(fill="x", pady=16)
        self.buttons["another"] = ctk.CTkButton(result, text="", height=56, font=big, command=self.start_over)
        self.buttons["another"].pack(fill="x", pady=6)
        self.buttons["done"] = ctk.CTkButton(result, text="", height=56, font=big, fg_color="#7f8c8d",
                                             command=self.close)
        self.buttons["done"].pack(fill="x", pady=6)
        self._show("who")

    # -- entering and leaving ------------------------------------------------------------------------
    def start(self, technician: str, lang: str) -> None:
        self.technician, self.lang = technician, lang
        self.start_over()

    def start_over(self) -> None:
        self.number, self.capture, self.outcome = "", None, ""
        self._show("who")

    def close(self) -> None:
        if self.capture is not None and self.step in ("consent", "capture"):
            self.service.cancel(self.capture)
        self.capture = None
        self.on_close()

    def relabel(self, lang: str) -> None:
        self.lang = lang
        self._refresh()

    # -- who -------------------------------------------------------------------------------------------
    def press(self, key: str) -> None:
        if key.isdigit() and len(self.number) < 20:
            self.number += key
        elif key == "del":
            self.number = self.number[:-1]
        elif key == "clear":
            self.number = ""
        self._armed_until = 0.0
        self._refresh()

    def pick(self, row: int) -> None:
        if row < len(self.roster):
            self.number = self.roster[row].number
            self._armed_until = 0.0
            self._refresh()

    def next(self) -> None:
        if not self.number:
            return
        try:
            self.capture = self.service.begin(self.number, self.technician)
        except Exception as error:
            if not isinstance(error, Refusal):
                raise
            self.who_message.configure(text=str(error))
            return
        self.who_message.configure(text="")
        self._show("consent")

    def remove(self) -> None:
        known = self._known()
        if known is None:
            return
        now = time.monotonic()
        if now > self._armed_until:
            self._armed_until = now + ARM_S
            self.buttons["remove"].configure(text=text("enrol.remove_confirm", self.lang, number=known.number))
            return
        self._armed_until = 0.0
        erased = self.service.remove(known.number, self.technician, wait_s=WIPE_WAIT_S)
        self.number = ""
        if erased is not None and not erased.wiped:  # the door read an older snapshot: wipe in a moment
            self.outcome = "removed_unwiped"
            self.result_label.configure(text=text("enrol.removed_unwiped", self.lang, number=known.number),
                                        text_color=WARN_COLOUR)
            self.after(WIPE_RETRY_MS, self._retry_wipe, known.number)
        else:
            self._removed(known.number)
        self._show("result")

    def _removed(self, number: str) -> None:
        self.outcome = "removed"
        self.result_label.configure(text=text("enrol.removed", self.lang, number=number), text_color=OK_COLOUR)

    def _retry_wipe(self, number: str) -> None:
        """Until the erasure's wipe is done (here, or by the kiosk's retention thread)."""
        if not self.winfo_exists():
            return
        if self.service.wipe_pending() and not self.service.wipe(wait_s=0.0):
            self.after(WIPE_RETRY_MS, self._retry_wipe, number)
            return
        if self.outcome == "removed_unwiped":
            self._removed(number)

    # -- consent and capture ------------------------------------------------------------------------
    def consent(self) -> None:
        if self.capture is None:
            return
        self.service.record_consent(self.capture)
        self.shot_label.configure(text="")
        self._show("capture")

    def take(self) -> None:
        if self.capture is None:
            return
        rgb = self.grab()
        if rgb is None:
            self._shot_message(text("enrol.no_frame", self.lang), ok=False)
            return
        try:
            offer = self.capture.offer(rgb)
        except Exception:  # a frame the engine chokes on must not close the screen
            LOGGER.exception("event=enrol_shot_failed")
            self._shot_message(text("enrol.no_frame", self.lang), ok=False)
            return
        if offer.accepted:
            self._shot_message(text("enrol.shot_ok", self.lang, shots=offer.shots), ok=True)
        else:
            reasons = ", ".join(reason(code, self.lang, offer.similar_to) for code in offer.reasons)
            self._shot_message(text("enrol.shot_rejected", self.lang, reason=reasons), ok=False)
        self._refresh()

    def restart(self) -> None:
        if self.capture is not None:
            self.capture.discard()
        self.shot_label.configure(text="")
        self._refresh()

    def cancel(self) -> None:
        if self.capture is not None:
            self.service.cancel(self.capture)
        self.capture = None
        self._show("who")

    def save(self) -> None:
        if self.capture is None or not self.capture.ready:
            return
        who = self._who()
        try:
            saved = self.service.save(self.capture)
        except Exception as error:  # the store or the disk failed: say so, keep the screen
            if isinstance(error, Refusal):
                self._refused(error)
            else:
                LOGGER.exception("event=enrol_save_failed")
                self.outcome = "error"
                self.result_label.configure(text=text("enrol.refused.other", self.lang, detail=str(error)),
                                            text_color=WARN_COLOUR)
        else:
            self.outcome = "saved"
            self.result_label.configure(text=text("enrol.saved", self.lang, who=who, templates=saved.templates),
                                        text_color=OK_COLOUR)
        self.capture = None
        self._show("result")

    def _refused(self, refused: Refusal) -> None:
        self.outcome = refused.kind
        if refused.kind == "duplicate":
            whom = "; ".join(
                text("enrol.collision", self.lang, score=c.score,
                     who=(f"{c.name} ({c.number})" if c.name else c.number)
                     + ("" if c.active else f", {text('enrol.inactive', self.lang)}"))
                for c in refused.collisions)
            message = text("enrol.refused.duplicate", self.lang, whom=whom)
        elif refused.kind == "inconsistent":
            message = text("enrol.refused.inconsistent", self.lang)
        else:
            message = text("enrol.refused.other", self.lang, detail=str(refused))
        if self.capture is not None:
            self.capture.discard()
        self.result_label.configure(text=message, text_color=WARN_COLOUR)

    # -- drawing -------------------------------------------------------------------------------------
    def _show(self, step: str) -> None:
        self.step = step
        for name, frame in self.steps.items():
            if name != step and frame.winfo_manager():
                frame.pack_forget()
        if not self.steps[step].winfo_manager():
            self.steps[step].pack(fill="both", expand=True)
        if step == "who":
            self._armed_until = 0.0
        self._refresh()

    def _shot_message(self, message: str, ok: bool) -> None:
        self.shot_label.configure(text=message, text_color=OK_COLOUR if ok else WARN_COLOUR)

    def _who(self) -> str:
        if self.capture is None:
            return self.number
        return f"{self.capture.name} ({self.capture.number})" if self.capture.name else self.capture.number

    def _known(self) -> RosterRow | None:
        return next((entry for entry in self.service.roster(self.number) if entry.number == self.number), None)

    def _refresh(self) -> None:
        lang = self.lang
        for key in ("back", "next", "consent", "consent_back", "take", "save", "restart", "cancel", "another",
                    "done"):
            label = {"consent_back": "enrol.back", "consent": "enrol.consent_given", "back": "enrol.back"}.get(
                key, f"enrol.{key}")
            self.buttons[key].configure(text=text(label, lang))
        self.buttons["del"].configure(text=text("fallback.delete", lang))
        self.buttons["clear"].configure(text="C")
        if self.step == "who":
            self.title.configure(text=text("enrol.who", lang))
            self.number_label.configure(text=text("enrol.number", lang, number=self.number))
            self.roster = self.service.roster(self.number)[:ROSTER_ROWS]
            for button, entry in zip(self.roster_rows, [*self.roster, *[None] * ROSTER_ROWS], strict=False):
                if entry is None:
                    button.configure(text="", state="disabled", fg_color="transparent")
                    continue
                status = (text("enrol.needs_reenrol", lang) if entry.needs_reenrol else
                          text("enrol.has_face", lang, templates=entry.templates) if entry.templates else
                          text("enrol.no_face", lang))
                label = f"{entry.number}  {entry.name[:18]}  · {status}"
                button.configure(text=label, state="normal",
                                 fg_color="#1f618d" if entry.number == self.number else "#2c3e50")
            known = self._known() if self.number else None
            armed = time.monotonic() <= self._armed_until
            self.buttons["remove"].configure(
                state="normal" if known is not None else "disabled",
                text=text("enrol.remove_confirm", lang, number=self.number) if armed else text("enrol.remove", lang))
            self.buttons["next"].configure(state="normal" if self.number else "disabled")
        elif self.step == "consent":
            self.title.configure(text=text("enrol.consent_title", lang, who=self._who()))
            config = self.service.config
            self.consent_label.configure(text=text("enrol.consent_text_crops" if config.keep_crops else
                                                   "enrol.consent_text", lang, policy=config.consent_policy,
                                                   days=f"{config.retention_days:g}"))
        elif self.step == "capture" and self.capture is not None:
            self.title.configure(text=text("enrol.capture_title", lang, shots=len(self.capture.shots),
                                           needed=self.capture.min_shots, who=self._who()))
            self.guide_label.configure(text=text(f"guide.{self.capture.prompt}", lang))
            self.buttons["save"].configure(state="normal" if self.capture.ready else "disabled")
            self.buttons["take"].configure(state="disabled" if self.capture.full else "normal")
        elif self.step == "result":
            self.title.configure(text=text("enrol.title", lang))
