"""The on-screen keypad for NIM + PIN: big keys for a finger, the PIN shown as dots."""

from __future__ import annotations

from collections.abc import Callable

import customtkinter as ctk

from kiosk.strings import text

KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "del", "0", "ok")
MAX_NUMBER, MAX_PIN = 20, 8


class Keypad(ctk.CTkFrame):
    def __init__(self, master: ctk.CTkBaseClass, on_submit: Callable[[str, str], None],
                 on_cancel: Callable[[], None], on_touch: Callable[[], None]) -> None:
        super().__init__(master, fg_color="transparent")
        self.on_submit, self.on_cancel, self.on_touch = on_submit, on_cancel, on_touch
        self.lang = "id"
        self.title_key = "fallback.title"
        self.number = ""
        self.pin = ""
        self.active = "number"
        self.title = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=26, weight="bold"))
        self.title.grid(row=0, column=0, columnspan=3, pady=(4, 8))
        self.number_label = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=24), corner_radius=8, height=44)
        self.number_label.grid(row=1, column=0, columnspan=3, sticky="ew", padx=6, pady=3)
        self.pin_label = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=24), corner_radius=8, height=44)
        self.pin_label.grid(row=2, column=0, columnspan=3, sticky="ew", padx=6, pady=3)
        self.message = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=18), text_color="#f5b041", wraplength=380)
        self.message.grid(row=3, column=0, columnspan=3, pady=4)
        self.buttons: dict[str, ctk.CTkButton] = {}
        for i, key in enumerate(KEYS):
            button = ctk.CTkButton(self, text=key, width=110, height=50, font=ctk.CTkFont(size=26, weight="bold"),
                                   command=lambda k=key: self.press(k))  # type: ignore[misc]
            button.grid(row=4 + i // 3, column=i % 3, padx=5, pady=4)
            self.buttons[key] = button
        self.buttons["cancel"] = ctk.CTkButton(self, text="", height=44, fg_color="#7f8c8d",
                                               font=ctk.CTkFont(size=20), command=self.cancel)
        self.buttons["cancel"].grid(row=8, column=0, columnspan=3, sticky="ew", padx=5, pady=(6, 0))
        self.relabel(self.lang)

    def open(self, title_key: str, lang: str) -> None:
        self.title_key = title_key
        self.number, self.pin, self.active = "", "", "number"
        self.message.configure(text="")
        self.relabel(lang)

    def relabel(self, lang: str) -> None:
        self.lang = lang
        self.title.configure(text=text(self.title_key, lang))
        self.buttons["del"].configure(text=text("fallback.delete", lang))
        self.buttons["ok"].configure(text=text("fallback.ok", lang))
        self.buttons["cancel"].configure(text=text("fallback.cancel", lang))
        self._show_fields()

    def _show_fields(self) -> None:
        active, idle = ("#2e86c1", "#2c3e50")
        self.number_label.configure(text=f"{text('fallback.number', self.lang)}:  {self.number}",
                                    fg_color=active if self.active == "number" else idle)
        self.pin_label.configure(text=f"{text('fallback.pin', self.lang)}:  {'●' * len(self.pin)}",
                                 fg_color=active if self.active == "pin" else idle)

    def press(self, key: str) -> None:
        self.on_touch()
        if key.isdigit():
            if self.active == "number" and len(self.number) < MAX_NUMBER:
                self.number += key
            elif self.active == "pin" and len(self.pin) < MAX_PIN:
                self.pin += key
        elif key == "del":
            if self.active == "pin" and self.pin:
                self.pin = self.pin[:-1]
            elif self.active == "pin":
                self.active = "number"
            else:
                self.number = self.number[:-1]
        elif key == "ok":
            if self.active == "number" and self.number:
                self.active = "pin"
            elif self.active == "pin" and self.pin:
                number, pin = self.number, self.pin
                self.pin = ""
                self._show_fields()
                self.on_submit(number, pin)
                return
        self._show_fields()

    def show_message(self, message: str) -> None:
        self.message.configure(text=message)

    def cancel(self) -> None:
        self.number, self.pin, self.active = "", "", "number"
        self.on_cancel()
