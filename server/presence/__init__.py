"""Presence: the idempotent ingest of kiosk events, and attendance built from them."""
