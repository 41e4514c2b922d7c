"""The device side of the kiosk-server protocol: push the outbox, pull changes, run commands, as a
thread of the kiosk or ``labgate-sync``. ``runner`` (the loop and its state), ``push``, ``pull`` and
``apply`` (the feed into the store), ``commands``, ``provisioning`` and ``credentials`` (the one-time
code and the device token), ``process`` (restart and reload for the hosting process), ``client``,
``backoff``, ``clock``, ``state``, ``config``, ``cli``. It stands on ``device`` (the store, config,
logs, events) and never imports ``enroll``."""
