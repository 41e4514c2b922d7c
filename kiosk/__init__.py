"""The door app: camera sources, the recognition loop, decisions, the fallback (NIM + PIN, signed QR
tokens), the customtkinter door screen and a local status/metrics endpoint.

It stands on ``device`` (store, config, logs, events, watchdog) and ``models``. ``kiosk.kiosk``
assembles the running kiosk and is its one module that imports ``enroll`` and ``sync``; the screen's
enrolment panel gets the enrolment service from it (``kiosk.screen.enrolment`` says what it needs).
"""
