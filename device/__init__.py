"""What the device's parts stand on: the device store (``store``, its schema in ``migrations``),
``config.toml`` read and checked (``config``), structured logs (``logs``), the presence event
(``events``) and systemd's notify and watchdog (``watchdog``).

The door app (``kiosk``), enrolment (``enroll``) and sync (``sync``) use it; it uses none of them,
only ``models`` (pyproject.toml's import-linter contracts check this).
"""
