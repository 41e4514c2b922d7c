"""The door app: camera sources, the recognition loop, decisions, the device store, the fallback
(NIM + PIN, signed QR tokens), the customtkinter door screen and a local status/metrics endpoint.

Dependency direction: ``kiosk`` uses ``models``; ``enroll`` and ``sync`` use the leaf modules
(``store``, ``config``, ``events``, ``logs``, ``watchdog``); ``kiosk.kiosk`` and ``kiosk.screen``
compose ``enroll`` and ``sync`` into the running app.
"""
