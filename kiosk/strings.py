"""Every word the door screen shows, in Bahasa Indonesia and English, from this one catalogue.

``text(key, lang, **values)``; a missing key or language is a bug that a test catches.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("id", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    "app.name": {"id": "LabGate", "en": "LabGate"},
    "lang.other": {"id": "English", "en": "Bahasa Indonesia"},
    "idle.title": {"id": "Silakan lihat ke kamera", "en": "Please look at the camera"},
    "idle.subtitle": {"id": "Wajah Anda dikenali dalam sekitar satu detik",
                      "en": "You will be recognised in about a second"},
    "offline.title": {"id": "Silakan lihat ke kamera", "en": "Please look at the camera"},
    "offline.subtitle": {"id": "Offline: kehadiran tetap disimpan di perangkat ini",
                         "en": "Offline: presence is still kept on this device"},
    "offline.badge": {"id": "OFFLINE", "en": "OFFLINE"},
    "looking.title": {"id": "Mengenali…", "en": "Recognising…"},
    "looking.subtitle": {"id": "Tetap lihat ke kamera", "en": "Keep looking at the camera"},
    "prompt.one_at_a_time": {"id": "Satu per satu, ya", "en": "One at a time, please"},
    "prompt.several_faces": {"id": "Satu per satu, ya", "en": "One at a time, please"},
    "prompt.too_small": {"id": "Mendekatlah sedikit", "en": "Come a little closer"},
    "prompt.blurred": {"id": "Diam sebentar", "en": "Hold still for a moment"},
    "prompt.turned_away": {"id": "Hadapkan wajah ke kamera", "en": "Face the camera"},
    "prompt.tilted": {"id": "Lihat lurus ke depan", "en": "Look straight ahead"},
    "prompt.too_dark": {"id": "Terlalu gelap", "en": "Too dark"},
    "prompt.too_bright": {"id": "Terlalu terang", "en": "Too bright"},
    "prompt.no_face": {"id": "Silakan lihat ke kamera", "en": "Please look at the camera"},
    "recognised.title": {"id": "Selamat datang, {name}", "en": "Welcome, {name}"},
    "recognised.subtitle": {"id": "Kehadiran tercatat pukul {time}", "en": "Presence recorded at {time}"},
    "recognised.repeat": {"id": "Sudah tercatat pukul {time}", "en": "Already recorded at {time}"},
    "recognised.booking": {"id": "Sekarang di ruangan ini: {title} ({holder}), {start}–{end}",
                           "en": "Now in this room: {title} ({holder}), {start}–{end}"},
    "recognised.no_booking": {"id": "Tidak ada jadwal di ruangan ini sekarang",
                              "en": "Nothing is booked in this room now"},
    "method.face": {"id": "wajah", "en": "face"},
    "method.pin": {"id": "NIM + PIN", "en": "NIM + PIN"},
    "method.qr": {"id": "kode QR", "en": "QR code"},
    "look_again.title": {"id": "Coba lihat lagi ke kamera", "en": "Please look at the camera again"},
    "look_again.subtitle": {"id": "Lepas masker atau kacamata hitam bila ada",
                            "en": "Take off a mask or sunglasses if you wear them"},
    "unknown.title": {"id": "Wajah tidak dikenali", "en": "Face not recognised"},
    "unknown.subtitle": {"id": "Masuk dengan NIM dan PIN, atau tunjukkan kode QR Anda ke kamera",
                         "en": "Sign in with your NIM and PIN, or show your QR code to the camera"},
    "camera_lost.title": {"id": "Kamera terputus", "en": "Camera lost"},
    "camera_lost.subtitle": {"id": "Menyambungkan kembali… Sementara itu, masuk dengan NIM dan PIN",
                             "en": "Reconnecting… Meanwhile, sign in with your NIM and PIN"},
    "fallback.title": {"id": "Masuk dengan NIM dan PIN", "en": "Sign in with NIM and PIN"},
    "fallback.number": {"id": "NIM / NIP", "en": "NIM / NIP"},
    "fallback.pin": {"id": "PIN", "en": "PIN"},
    "fallback.ok": {"id": "OK", "en": "OK"},
    "fallback.cancel": {"id": "Batal", "en": "Cancel"},
    "fallback.delete": {"id": "Hapus", "en": "Delete"},
    "fallback.hint": {"id": "Ketik NIM, tekan OK, lalu ketik PIN", "en": "Type your NIM, press OK, then your PIN"},
    "fallback.wrong": {"id": "NIM atau PIN salah (sisa {tries} kali)", "en": "Wrong NIM or PIN ({tries} tries left)"},
    "fallback.locked": {"id": "Terlalu banyak percobaan. Coba lagi dalam {seconds} detik",
                        "en": "Too many tries. Try again in {seconds} s"},
    "fallback.inactive": {"id": "Akun tidak aktif. Hubungi teknisi",
                          "en": "This account is not active. Ask a technician"},
    "button.pin": {"id": "Pakai NIM + PIN", "en": "Use NIM + PIN"},
    "qr.hint": {"id": "atau tunjukkan kode QR ke kamera", "en": "or show your QR code to the camera"},
    "notice.qr_used": {"id": "Kode QR ini sudah dipakai", "en": "This QR code was already used"},
    "notice.qr_expired": {"id": "Kode QR ini kedaluwarsa", "en": "This QR code has expired"},
    "notice.qr_not_yet_valid": {"id": "Kode QR ini belum berlaku (periksa jam)",
                                "en": "This QR code is not valid yet (check the clock)"},
    "notice.qr_signature": {"id": "Kode QR ini tidak sah", "en": "This QR code is not valid"},
    "notice.qr_malformed": {"id": "Kode QR ini tidak sah", "en": "This QR code is not valid"},
    "notice.qr_inactive": {"id": "Akun tidak aktif. Hubungi teknisi",
                           "en": "This account is not active. Ask a technician"},
    "notice.qr_no_key": {"id": "Kiosk ini belum bisa memeriksa kode QR", "en": "This kiosk cannot check QR codes yet"},
    "notice.qr_disabled": {"id": "Kode QR tidak dipakai di sini", "en": "QR codes are not used here"},
    "notice.store_error": {"id": "Gagal menyimpan. Coba lagi atau hubungi teknisi",
                           "en": "Could not save. Try again or ask a technician"},
    "tech.button": {"id": "Teknisi", "en": "Technician"},
    "tech.login": {"id": "Mode teknisi: NIP dan PIN", "en": "Technician mode: NIP and PIN"},
    "tech.title": {"id": "Mode teknisi — {name}", "en": "Technician mode — {name}"},
    "tech.model": {"id": "Model: {model}", "en": "Model: {model}"},
    "tech.people": {"id": "Orang terdaftar: {count}", "en": "People enrolled: {count}"},
    "tech.outbox": {"id": "Antrean kirim: {count} kejadian", "en": "Outbox: {count} events"},
    "tech.camera": {"id": "Kamera: {status}, {fps} fps", "en": "Camera: {status}, {fps} fps"},
    "tech.sync": {"id": "Sinkron terakhir: {when}", "en": "Last sync: {when}"},
    "tech.never": {"id": "belum pernah", "en": "never"},
    "tech.enrol": {"id": "Daftarkan wajah (segera hadir)", "en": "Enrol a face (coming soon)"},
    "tech.exit": {"id": "Keluar", "en": "Exit"},
}


def text(key: str, lang: str, **values: Any) -> str:
    """The string ``key`` in ``lang`` with ``values`` filled in."""
    entry = CATALOGUE[key]
    return entry.get(lang, entry["en"]).format(**values)
