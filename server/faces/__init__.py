"""Faces: photos turned into templates with the kiosk's own face engine, and identification."""
