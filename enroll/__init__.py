"""Enrolment: who may enter the gallery, and how they leave it.

``service`` is called by both the technician screen (``kiosk.screen.enrol``, handed the service by
``kiosk.kiosk``) and ``labgate-enroll`` (``cli``); it holds the one path into the gallery. Its parts:
a guided capture at the door (``capture``), the consistency check (``checks``; the duplicate-identity
rule is ``models.duplicates``, shared with the server), encrypted kept crops (``crops``) and their
retention (``retention``). Built on the service, each taking it as their first argument: photo
folders (``folder.import_folder``), re-embedding for a new model (``reembed.reembed``) and encrypted
gallery bundles (``bundle.export_gallery``, ``import_gallery``). What it answers is in ``outcomes``.
It stands on ``device`` (the store, logs, events) and ``models``.
"""
