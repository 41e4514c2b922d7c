"""Enrolment: who may enter the gallery, and how they leave it.

``service`` holds the rules and is called by both the technician screen (``kiosk.screen.enrol``) and
``labgate-enroll`` (``cli``): a guided capture at the door (``capture``), photo folders (``folder``),
the consistency and duplicate checks (``checks``), encrypted kept crops with a retention time
(``crops``), erasure, re-embedding for a new model, and encrypted gallery bundles (``bundle``).
"""
