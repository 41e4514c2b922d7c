"""The door app: camera sources, the recognition loop, decisions, the device store, the fallback
(NIM + PIN, signed QR tokens), the customtkinter door screen and a local status/metrics endpoint.

Dependency direction: ``kiosk`` uses ``models``; ``enroll`` and ``sync`` use ``kiosk.store``.
"""
