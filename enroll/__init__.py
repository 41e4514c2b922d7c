"""Enrolment: who may enter the gallery, and how they leave it.

``service`` is the facade called by both the technician screen (``kiosk.screen.enrol``) and
``labgate-enroll`` (``cli``); it holds the one path into the gallery. Its parts: a guided capture at
the door (``capture``), photo folders (``folder``), the consistency check (``checks``; the
duplicate-identity rule is ``models.duplicates``, shared with the server), encrypted kept crops
(``crops``) and their retention (``retention``), re-embedding for a new model (``reembed``), and
encrypted gallery bundles (``bundle``). What it answers is in ``outcomes``.
"""
