"""Every word of the enrolment screen, in Bahasa Indonesia and English (as ``kiosk.strings`` does for
the door). Quality reasons reuse the door's prompts (``prompt.<reason>`` in ``kiosk.strings``)."""

from __future__ import annotations

from typing import Any

from kiosk import strings

CATALOGUE: dict[str, dict[str, str]] = {
    "enrol.open": {"id": "Daftarkan wajah", "en": "Enrol a face"},
    "enrol.title": {"id": "Pendaftaran wajah", "en": "Face enrolment"},
    "enrol.who": {"id": "Ketik NIM / NIP atau pilih dari daftar", "en": "Type the NIM / NIP or pick from the list"},
    "enrol.number": {"id": "NIM / NIP: {number}", "en": "NIM / NIP: {number}"},
    "enrol.new_person": {"id": "Orang baru (belum ada di daftar)", "en": "A new person (not in the list)"},
    "enrol.has_face": {"id": "{templates} templat", "en": "{templates} templates"},
    "enrol.no_face": {"id": "belum ada wajah", "en": "no face yet"},
    "enrol.needs_reenrol": {"id": "perlu daftar ulang", "en": "needs re-enrolment"},
    "enrol.next": {"id": "Lanjut", "en": "Next"},
    "enrol.back": {"id": "Kembali", "en": "Back"},
    "enrol.remove": {"id": "Hapus orang ini", "en": "Erase this person"},
    "enrol.remove_confirm": {"id": "Ketuk lagi untuk menghapus {number}", "en": "Tap again to erase {number}"},
    "enrol.removed": {"id": "{number} dihapus: templat, PIN dan datanya",
                      "en": "{number} erased: templates, PIN and record"},
    "enrol.removed_unwiped": {
        "id": "{number} dihapus, tetapi salinan lamanya masih ada di berkas basis data (sedang dibaca). "
              "Penghapusan diulang otomatis; jangan matikan kiosk.",
        "en": "{number} erased, but old copies are still in the database file (it is being read). "
              "The wipe is retried automatically; keep the kiosk on."},
    "enrol.consent_title": {"id": "Persetujuan — {who}", "en": "Consent — {who}"},
    "enrol.consent_text": {
        "id": "LabGate menyimpan templat wajah (bukan foto) di kiosk ini untuk mencatat kehadiran di lab. "
              "Data dapat dihapus kapan saja atas permintaan. Kebijakan versi {policy}.",
        "en": "LabGate keeps face templates (not photos) on this kiosk to record presence in the lab. "
              "They can be erased at any time on request. Policy version {policy}."},
    "enrol.consent_text_crops": {
        "id": "LabGate menyimpan templat wajah dan potongan foto wajah (terenkripsi, selama {days} hari, untuk "
              "memperbarui templat bila model wajah berganti) di kiosk ini untuk mencatat kehadiran di lab. "
              "Data dapat dihapus kapan saja atas permintaan. Kebijakan versi {policy}.",
        "en": "LabGate keeps face templates and cropped face photos (encrypted, for {days} days, to renew the "
              "templates when the face model changes) on this kiosk to record presence in the lab. "
              "They can be erased at any time on request. Policy version {policy}."},
    "enrol.consent_given": {"id": "Orang ini setuju", "en": "This person agrees"},
    "enrol.capture_title": {"id": "Foto {shots} dari {needed} — {who}", "en": "Shot {shots} of {needed} — {who}"},
    "guide.straight": {"id": "Lihat lurus ke kamera", "en": "Look straight at the camera"},
    "guide.left": {"id": "Toleh sedikit ke kiri", "en": "Turn a little to your left"},
    "guide.right": {"id": "Toleh sedikit ke kanan", "en": "Turn a little to your right"},
    "guide.up": {"id": "Angkat dagu sedikit", "en": "Look a little up"},
    "enrol.take": {"id": "Ambil foto", "en": "Take shot"},
    "enrol.save": {"id": "Simpan", "en": "Save"},
    "enrol.restart": {"id": "Ulangi", "en": "Start over"},
    "enrol.cancel": {"id": "Batal", "en": "Cancel"},
    "enrol.shot_ok": {"id": "Foto {shots} diambil", "en": "Shot {shots} taken"},
    "enrol.shot_rejected": {"id": "Foto ditolak: {reason}", "en": "Shot not taken: {reason}"},
    "enrol.no_frame": {"id": "Belum ada gambar dari kamera", "en": "No camera picture yet"},
    "reason.near_identical": {"id": "hampir sama dengan foto {shot}, bergeraklah sedikit",
                              "en": "nearly the same as shot {shot}, move a little"},
    "reason.full": {"id": "foto sudah cukup, simpan sekarang", "en": "enough shots, save now"},
    "reason.attack": {"id": "foto atau layar, bukan orangnya: orangnya harus berdiri di depan kamera",
                      "en": "a photo or a screen, not a person: the person must stand at the camera"},
    "reason.not_turned_left": {"id": "belum menoleh ke kiri, tolehkan sedikit ke kiri",
                               "en": "not turned to the left, turn a little to your left"},
    "reason.not_turned_right": {"id": "belum menoleh ke kanan, tolehkan sedikit ke kanan",
                                "en": "not turned to the right, turn a little to your right"},
    "reason.not_looking_up": {"id": "belum mendongak, angkat dagu sedikit",
                              "en": "not looking up, raise the chin a little"},
    "enrol.saved": {"id": "Tersimpan: {who}, {templates} templat", "en": "Saved: {who}, {templates} templates"},
    "enrol.refused.duplicate": {"id": "Tidak disimpan: wajah ini sudah terdaftar sebagai {whom}",
                                "en": "Not saved: this face is already enrolled as {whom}"},
    "enrol.collision": {"id": "{who}, skor {score:.2f}", "en": "{who}, score {score:.2f}"},
    "enrol.inactive": {"id": "tidak aktif", "en": "inactive"},
    "enrol.refused.inconsistent": {"id": "Tidak disimpan: foto-foto menunjukkan dua orang berbeda. Ulangi.",
                                   "en": "Not saved: the shots show two different people. Start over."},
    "enrol.refused.other": {"id": "Tidak disimpan: {detail}", "en": "Not saved: {detail}"},
    "enrol.another": {"id": "Daftarkan orang lain", "en": "Enrol someone else"},
    "enrol.done": {"id": "Selesai", "en": "Done"},
}


def text(key: str, lang: str, **values: Any) -> str:
    """``key`` from this catalogue, or from the door's (``kiosk.strings``)."""
    entry = CATALOGUE.get(key)
    if entry is None:
        return strings.text(key, lang, **values)
    return entry.get(lang, entry["en"]).format(**values)


def reason(code: str, lang: str, shot: int | None = None) -> str:
    """A rejected shot's reason, as the technician reads it."""
    if f"reason.{code}" in CATALOGUE:
        return text(f"reason.{code}", lang, shot=shot or 0)
    if f"prompt.{code}" in strings.CATALOGUE:
        return strings.text(f"prompt.{code}", lang)
    return code
