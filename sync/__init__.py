"""The device side of the kiosk-server protocol (to come): push the outbox, pull changes, run
commands; as a thread of the kiosk or a one-shot command."""
