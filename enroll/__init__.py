"""Enrolment (to come): guided capture, quality gate, duplicate-identity check, import from a
folder, erasure, and re-embedding the gallery for a new model."""
