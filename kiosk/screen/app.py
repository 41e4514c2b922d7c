"""The door screen: full screen, touch-friendly, in Bahasa Indonesia or English.

Left: the live preview with face boxes. Right: what the door says now (idle, looking, recognised,
look again, not recognised, camera lost, offline), the NIM + PIN keypad when asked for, or
technician mode. The screen polls the door's snapshot; it never decides anything itself.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime
from typing import Any

import customtkinter as ctk

from device.events import parse_iso
from device.logs import LOGGER, log
from device.watchdog import notify
from kiosk.door import Snapshot, View
from kiosk.fallback import Result
from kiosk.kiosk import Kiosk
from kiosk.screen.enrol import EnrolPanel
from kiosk.screen.enrolment import Enrolment
from kiosk.screen.keypad import Keypad
from kiosk.screen.preview import Preview
from kiosk.screen.technician import TechnicianPanel
from kiosk.strings import text

COLOURS = {
    View.IDLE: "#34495e", View.OFFLINE: "#4d5656", View.LOOKING: "#2471a3", View.RECOGNISED: "#1e8449",
    View.LOOK_AGAIN: "#b9770e", View.UNKNOWN: "#a04000", View.CAMERA_LOST: "#922b21", View.FALLBACK: "#34495e",
    View.SPOOF: "#a04000",
}
TICK_MS = 50


class DoorScreen(ctk.CTk):
    def __init__(self, kiosk: Kiosk, exit_at_end: bool = False, enrolment: Enrolment[Any] | None = None) -> None:
        """``enrolment``: the enrolment service behind technician mode's "enrol" button (``Kiosk.enrolment``);
        without one the button is shown disabled."""
        ctk.set_appearance_mode("dark")
        super().__init__()
        self.kiosk = kiosk
        self.exit_at_end = exit_at_end
        self.enrolment = enrolment
        screen = kiosk.config.screen
        self.lang = screen.language
        self.mode = "door"  # door | pin | tech_login | technician | enrol
        self.shown_view = ""  # what the right panel shows now (tests read this)
        self.technician: str | None = None
        self.closing = False
        self._rendered: tuple[Any, ...] = ()
        self._next_preview = 0.0
        width, height = screen.size
        self.title("LabGate")
        if screen.fullscreen:
            width, height = self.winfo_screenwidth(), self.winfo_screenheight()
            self.attributes("-fullscreen", True)
        self.geometry(f"{width}x{height}+0+0")  # also without a window manager (a bare X kiosk session)
        self.configure(fg_color="#17202a")
        self.grid_columnconfigure(0, weight=0)
        self.grid_columnconfigure(1, weight=1)
        self.grid_rowconfigure(1, weight=1)

        bar = ctk.CTkFrame(self, fg_color="#0b1015", corner_radius=0, height=56)
        bar.grid(row=0, column=0, columnspan=2, sticky="ew")
        self.room_label = ctk.CTkLabel(bar, text=f"LabGate · {kiosk.config.kiosk.room}", font=ctk.CTkFont(size=20))
        self.room_label.pack(side="left", padx=16, pady=8)
        self.tech_button = ctk.CTkButton(bar, text="", width=120, height=40, fg_color="#2c3e50",
                                         command=self.open_technician_login)
        self.tech_button.pack(side="right", padx=8)
        self.lang_button = ctk.CTkButton(bar, text="", width=170, height=40, command=self.switch_language)
        self.lang_button.pack(side="right", padx=8)
        self.offline_badge = ctk.CTkLabel(bar, text="", text_color="#f5b041", font=ctk.CTkFont(size=18, weight="bold"))
        self.offline_badge.pack(side="right", padx=12)
        self.clock_label = ctk.CTkLabel(bar, text="", font=ctk.CTkFont(size=22, weight="bold"))
        self.clock_label.pack(side="right", padx=16)

        preview_h = max(240, height - 56 - 24)
        preview_w = max(320, min(int(width * 0.55), preview_h * 4 // 3))
        preview_h = preview_w * 3 // 4
        self.preview = Preview(self, (preview_w, preview_h))
        self.preview.label.grid(row=1, column=0, padx=12, pady=12, sticky="n")

        self.panel = ctk.CTkFrame(self, corner_radius=16)
        self.panel.grid_propagate(False)
        self.panel.pack_propagate(False)
        self.panel.grid(row=1, column=1, sticky="nsew", padx=(0, 12), pady=12)
        self.status = ctk.CTkFrame(self.panel, fg_color="transparent")
        wrap = max(260, width - preview_w - 120)
        self.title_label = ctk.CTkLabel(self.status, text="", font=ctk.CTkFont(size=34, weight="bold"), wraplength=wrap)
        self.title_label.pack(pady=(30, 10), padx=16)
        self.subtitle_label = ctk.CTkLabel(self.status, text="", font=ctk.CTkFont(size=22), wraplength=wrap)
        self.subtitle_label.pack(pady=6, padx=16)
        self.detail_label = ctk.CTkLabel(self.status, text="", font=ctk.CTkFont(size=18), wraplength=wrap)
        self.detail_label.pack(pady=6, padx=16)
        self.notice_label = ctk.CTkLabel(self.status, text="", font=ctk.CTkFont(size=18), text_color="#f5b041",
                                         wraplength=wrap)
        self.notice_label.pack(pady=6, padx=16)
        self.pin_button = ctk.CTkButton(self.status, text="", height=64, font=ctk.CTkFont(size=24, weight="bold"),
                                        command=self.open_pin)
        self.pin_button.pack(pady=(20, 6), padx=24, fill="x")
        self.qr_hint = ctk.CTkLabel(self.status, text="", font=ctk.CTkFont(size=18))
        self.qr_hint.pack(pady=4)
        self.keypad = Keypad(self.panel, on_submit=self.submit_keypad, on_cancel=self.cancel_keypad,
                             on_touch=kiosk.door.touch_fallback)
        self.tech_panel = TechnicianPanel(self.panel, on_exit=self.exit_technician,
                                          on_enrol=self.open_enrolment if enrolment is not None else None,
                                          on_provision=lambda payload: kiosk.provision(payload, "screen"))
        self.enrol_panel: EnrolPanel[Any] | None = None  # made when technician mode first opens enrolment
        self.status.pack(fill="both", expand=True)
        self._bar_texts()
        self.bind("<Key>", self._on_key)
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.after(TICK_MS, self.tick)

    # -- user actions ------------------------------------------------------------------------------
    def switch_language(self) -> None:
        self.lang = "en" if self.lang == "id" else "id"
        self._bar_texts()
        self.keypad.relabel(self.lang)
        if self.enrol_panel is not None:
            self.enrol_panel.relabel(self.lang)
        self._rendered = ()

    def open_pin(self) -> None:
        self.mode = "pin"
        self.keypad.open("fallback.title", self.lang)
        self.kiosk.door.open_fallback()
        self._rendered = ()

    def open_technician_login(self) -> None:
        self.mode = "tech_login"
        self.keypad.open("tech.login", self.lang)
        self._rendered = ()

    def cancel_keypad(self) -> None:
        if self.mode == "pin":
            self.kiosk.door.close_fallback()
        self.mode = "door"
        self._rendered = ()

    def submit_keypad(self, number: str, pin: str) -> None:
        if self.mode == "tech_login":
            result = self.kiosk.fallback.check_person(number, pin, self.kiosk.config.screen.technician_roles)
            if result.ok:
                person = self.kiosk.store.person(number)
                self.technician = number
                self.kiosk.technician = number  # a provisioning code shown or pasted now is taken
                self.kiosk.store.audit(number, "technician.login", name=person.name if person else "")
                log("technician_login", number=number)
                self.mode = "technician"
                self._rendered = ()
            else:
                self.keypad.show_message(self._refusal(result))  # never says whether the PIN itself was right
            return
        result = self.kiosk.fallback.pin(number, pin)
        if result.ok:
            self.mode = "door"
            self._rendered = ()
        else:
            self.keypad.show_message(self._refusal(result))

    def open_enrolment(self) -> None:
        """Technician mode -> the enrolment screen (the enrolment service holds every rule)."""
        if self.mode != "technician" or not self.technician or self.enrolment is None:
            return
        if self.enrol_panel is None:
            self.enrol_panel = EnrolPanel(self.panel, self.enrolment, grab=self._latest_frame,
                                          on_close=self.close_enrolment)
        self.enrol_panel.start(self.technician, self.lang)
        self.kiosk.loop.paused.set()  # the person being enrolled is not a visitor at the door
        self.mode = "enrol"
        self._rendered = ()

    def close_enrolment(self) -> None:
        self.kiosk.loop.paused.clear()
        self.mode = "technician" if self.technician else "door"
        self._rendered = ()

    def _latest_frame(self) -> Any:
        frame = self.kiosk.camera.latest()
        return None if frame is None else frame.rgb

    def exit_technician(self) -> None:
        if self.technician:
            self.kiosk.store.audit(self.technician, "technician.logout")
        self.technician = None
        self.kiosk.technician = None
        self.mode = "door"
        self._rendered = ()

    def close(self) -> None:
        self.closing = True

    def _refusal(self, result: Result) -> str:
        if result.reason == "locked":
            return text("fallback.locked", self.lang, seconds=max(1, round(result.wait_s)))
        if result.reason == "inactive":
            return text("fallback.inactive", self.lang)
        if result.reason == "store_error":
            return text("notice.store_error", self.lang)
        return text("fallback.wrong", self.lang, tries=result.tries_left if result.tries_left is not None else 0)

    def _on_key(self, event: Any) -> None:
        if self.mode == "enrol" and self.enrol_panel is not None and self.enrol_panel.step == "who":
            if event.char.isdigit() or event.keysym == "BackSpace":
                self.enrol_panel.press(event.char if event.char.isdigit() else "del")
            return
        if self.mode not in ("pin", "tech_login"):
            return
        keys = {"Return": "ok", "KP_Enter": "ok", "BackSpace": "del"}
        key = keys.get(event.keysym, event.char if event.char.isdigit() else "")
        if key:
            self.keypad.press(key)
        elif event.keysym == "Escape":
            self.keypad.cancel()

    # -- the tick: read the door, draw ---------------------------------------------------------------
    def tick(self) -> None:
        if self.closing or (self.exit_at_end and self.kiosk.loop.ended) or not self.kiosk.loop.alive:
            self.quit()
            return
        try:
            snap = self.kiosk.door.snapshot()
            if self.mode == "pin" and snap.view is not View.FALLBACK:
                self.mode = "door"  # accepted, or the keypad timed out
            self.render(snap)
            now = time.monotonic()
            if now >= self._next_preview:
                self._next_preview = now + 1.0 / self.kiosk.config.screen.preview_fps
                frame = self.kiosk.camera.latest()
                if frame is not None and frame.index != self.preview.shown_index:
                    self.preview.show(frame.rgb, snap.boxes, frame.index)
        except Exception:  # the screen must keep running whatever one tick met
            LOGGER.exception("event=screen_tick_failed")
        self.after(TICK_MS, self.tick)

    def render(self, snap: Snapshot) -> None:
        clock = datetime.now().strftime("%H:%M")
        if self.clock_label.cget("text") != clock:
            self.clock_label.configure(text=clock)
        if self.mode == "enrol" and self.enrol_panel is not None:
            if self._rendered != ("enrol", self.lang):
                self._show(self.enrol_panel)
                self.panel.configure(fg_color=COLOURS[View.FALLBACK])
                self.enrol_panel.relabel(self.lang)
                self._rendered, self.shown_view = ("enrol", self.lang), "enrol"
            return
        if self.mode == "technician":
            health = self.kiosk.health()
            sync = health["sync"]
            key: tuple[Any, ...] = ("technician", self.lang, health["outbox"], health["camera"]["status"],
                                    health["camera"]["fps"], health["gallery_people"], health["last_sync"],
                                    sync["state"], sync["detail"], sync["provisioning_refused"],
                                    sync["issues"]["conflict"], sync["issues"]["rejected"])
            if key != self._rendered:
                self._show(self.tech_panel)
                self.panel.configure(fg_color=COLOURS[View.FALLBACK])
                person = self.kiosk.store.person(self.technician or "")
                self.tech_panel.refresh(self.lang, person.name if person and person.name else self.technician or "",
                                        health)
                self._rendered, self.shown_view = key, "technician"
            return
        if self.mode == "tech_login" or snap.view is View.FALLBACK:
            if self._rendered != ("keypad", self.mode, self.lang):
                self._show(self.keypad)
                self.panel.configure(fg_color=COLOURS[View.FALLBACK])
                self._rendered = ("keypad", self.mode, self.lang)
                self.shown_view = "technician_login" if self.mode == "tech_login" else View.FALLBACK.value
            return
        key = (snap.version, self.lang)
        if key == self._rendered:
            return
        self._rendered = key
        self._show(self.status)
        self.shown_view = snap.view.value
        self.panel.configure(fg_color=COLOURS[snap.view])
        self.offline_badge.configure(text=text("offline.badge", self.lang) if snap.offline else "")
        title, subtitle, detail = self._texts(snap)
        self.title_label.configure(text=title)
        self.subtitle_label.configure(text=subtitle)
        self.detail_label.configure(text=detail)
        self.notice_label.configure(text=text(f"notice.{snap.notice}", self.lang) if snap.notice else "")
        offer = snap.view in (View.UNKNOWN, View.SPOOF, View.CAMERA_LOST, View.IDLE, View.OFFLINE, View.LOOK_AGAIN)
        self.pin_button.configure(text=text("button.pin", self.lang), state="normal" if offer else "disabled")
        self.qr_hint.configure(text=text("qr.hint", self.lang) if offer and snap.view is not View.CAMERA_LOST else "")

    def _texts(self, snap: Snapshot) -> tuple[str, str, str]:
        lang = self.lang
        view = snap.view
        if view is View.RECOGNISED and snap.greeting is not None:
            g = snap.greeting
            at = datetime.fromtimestamp(g.at).strftime("%H:%M")
            subtitle = text("recognised.repeat" if g.repeat else "recognised.subtitle", lang, time=at)
            if g.method != "face":
                subtitle += f" · {text('method.' + g.method, lang)}"
            if g.checked_in:
                b = g.checked_in
                detail = text("recognised.checked_in", lang, title=b.title, start=_local_hm(b.starts_at),
                              end=_local_hm(b.ends_at))
            elif g.booking:
                b = g.booking
                detail = text("recognised.booking", lang, title=b.title, holder=b.holder,
                              start=_local_hm(b.starts_at), end=_local_hm(b.ends_at))
            else:
                detail = text("recognised.no_booking", lang)
            return text("recognised.title", lang, name=g.name), subtitle, detail
        title = text(f"{view.value}.title", lang)
        subtitle = text(f"{view.value}.subtitle", lang)
        detail = ""
        if snap.prompt and view in (View.LOOKING, View.LOOK_AGAIN):
            subtitle = text(f"prompt.{snap.prompt}", lang)
        if view is View.CAMERA_LOST and snap.camera_error:
            detail = snap.camera_error
        return title, subtitle, detail

    def _show(self, widget: ctk.CTkFrame) -> None:
        for child in (self.status, self.keypad, self.tech_panel, self.enrol_panel):
            if child is None:
                continue
            if child is not widget and child.winfo_manager():
                child.pack_forget()
        if not widget.winfo_manager():
            widget.pack(fill="both", expand=True, padx=12, pady=12)

    def _bar_texts(self) -> None:
        self.lang_button.configure(text=text("lang.other", self.lang))
        self.tech_button.configure(text=text("tech.button", self.lang))
        self.keypad.relabel(self.lang) if hasattr(self, "keypad") else None


def _local_hm(iso: str) -> str:
    return datetime.fromtimestamp(parse_iso(iso)).strftime("%H:%M")


def run_screen(kiosk: Kiosk, exit_at_end: bool = False) -> int:
    """Start the kiosk's threads under the door screen; returns when the window closes or on SIGTERM."""
    app = DoorScreen(kiosk, exit_at_end, enrolment=kiosk.enrolment())

    def on_signal(signum: int, _frame: object) -> None:
        log("signal", signal=signal.Signals(signum).name)
        app.closing = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    kiosk.start(stop_at_end=exit_at_end)
    notify("READY=1")
    code = 0
    try:
        app.mainloop()
        if not kiosk.loop.alive and not (exit_at_end and kiosk.loop.ended) and not app.closing:
            log("thread_died", thread="loop")
            code = 1
    finally:
        notify("STOPPING=1")
        kiosk.stop()
        app.destroy()
    return code
