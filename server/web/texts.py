"""The pages' words in Indonesian and English. Templates write ``t("English text")``; Indonesian comes
from ``INDONESIAN`` (a test checks every text in the templates has its translation). Each person reads
the pages in the language of their contact settings; before signing in, the browser's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

LANGUAGES = ("id", "en")
DEFAULT = "id"

INDONESIAN: dict[str, str] = {
    "Skip to content": "Langsung ke isi",
    "Rows": "Baris",
    "Main": "Utama",
    "Switch role": "Ganti peran",
    "Sign out": "Keluar",
    "Sign in": "Masuk",
    "Not possible": "Tidak dapat dilakukan",
    "Back": "Kembali",
    "Number (NIM or NIP)": "Nomor (NIM atau NIP)",
    "Password": "Kata sandi",
    "Choose your role": "Pilih peran Anda",
    "You hold several roles. Act as:": "Anda memegang beberapa peran. Bertindak sebagai:",
    "Continue": "Lanjut",
    "Hello": "Halo",
    "You are signed in as": "Anda masuk sebagai",
    "Home": "Beranda",
    "My attendance": "Kehadiran saya",
    "My QR code": "Kode QR saya",
    "Announcements": "Pengumuman",
    "Settings": "Pengaturan",
    "People": "Orang",
    "Kiosks": "Kios",
    "Attendance reports": "Laporan kehadiran",
    "New announcement": "Pengumuman baru",
    "Dead notifications": "Notifikasi gagal",
    "Audit log": "Log audit",
    "role:admin": "admin",
    "role:head": "kepala lab",
    "role:technician": "teknisi",
    "role:lecturer": "dosen",
    "role:assistant": "asisten",
    "role:student": "mahasiswa",
    "From": "Dari",
    "To": "Sampai",
    "Show": "Tampilkan",
    "Attendance": "Kehadiran",
    "Day": "Hari",
    "Number": "Nomor",
    "Name": "Nama",
    "Present": "Hadir",
    "First seen": "Pertama terlihat",
    "Last seen": "Terakhir terlihat",
    "Source": "Sumber",
    "yes": "ya",
    "no": "tidak",
    "kiosk": "kios",
    "correction": "koreksi",
    "No attendance in these days.": "Tidak ada kehadiran pada hari-hari ini.",
    "QR code for the door, number": "Kode QR untuk pintu, nomor",
    "Valid until": "Berlaku sampai",
    "When the kiosk does not recognise your face, show it this code. It works for a few minutes only.":
        "Jika kios tidak mengenali wajah Anda, tunjukkan kode ini. Kode hanya berlaku beberapa menit.",
    "Show my QR code": "Tampilkan kode QR saya",
    "No announcements for you yet.": "Belum ada pengumuman untuk Anda.",
    "My contacts": "Kontak saya",
    "Email": "Email",
    "WhatsApp number": "Nomor WhatsApp",
    "Language": "Bahasa",
    "Notifications": "Notifikasi",
    "topic:announcements": "Pengumuman",
    "topic:bookings": "Pemesanan ruang",
    "topic:recruitment": "Rekrutmen asisten",
    "topic:attendance": "Kehadiran",
    "channel:email": "Email",
    "channel:push": "Notifikasi aplikasi",
    "channel:whatsapp": "WhatsApp",
    "Save": "Simpan",
    "Saved.": "Tersimpan.",
    "The form's security token is missing or out of date; try again.":
        "Token keamanan formulir hilang atau kedaluwarsa; coba lagi.",
    "Enter your number and your password.": "Masukkan nomor dan kata sandi Anda.",
    "The number or the password is wrong.": "Nomor atau kata sandi salah.",
    "Too many failed sign-ins; wait and try again in":
        "Terlalu banyak percobaan masuk yang gagal; tunggu dan coba lagi dalam",
    "Action": "Tindakan",
    "Active": "Aktif",
    "Add": "Tambah",
    "Add a person": "Tambah orang",
    "All announcements": "Semua pengumuman",
    "Announce": "Umumkan",
    "CSV file": "Berkas CSV",
    "Channel": "Saluran",
    "Consent": "Persetujuan",
    "Correct a day": "Koreksi satu hari",
    "Decision": "Keputusan",
    "Detail": "Rincian",
    "Download as CSV": "Unduh sebagai CSV",
    "For": "Untuk",
    "Import": "Impor",
    "Import from CSV": "Impor dari CSV",
    "It is shown only now.": "Kode ini hanya ditampilkan sekarang.",
    "Kind": "Jenis",
    "Last error": "Galat terakhir",
    "Messages that gave up after every attempt. Send one again once the address is right.":
        "Pesan yang gagal setelah semua percobaan. Kirim ulang setelah alamatnya benar.",
    "Name or number": "Nama atau nomor",
    "Next": "Berikutnya",
    "No announcements yet.": "Belum ada pengumuman.",
    "No consent recorded.": "Belum ada persetujuan tercatat.",
    "Note (how it was given)": "Catatan (cara diberikan)",
    "On": "Pada",
    "Only check the file": "Hanya periksa berkas",
    "Previous": "Sebelumnya",
    "Provisioning QR code for kiosk": "Kode QR penyiapan untuk kios",
    "Provisioning code for": "Kode penyiapan untuk",
    "Purpose": "Tujuan",
    "Reason": "Alasan",
    "Record consent": "Catat persetujuan",
    "Register": "Daftarkan",
    "Register a kiosk": "Daftarkan kios",
    "Revoke": "Cabut",
    "Role": "Peran",
    "Roles": "Peran",
    "Roles and account": "Peran dan akun",
    "Room": "Ruang",
    "Search": "Cari",
    "Send again": "Kirim ulang",
    "Show this code to the new kiosk's camera. It works once, until":
        "Tunjukkan kode ini ke kamera kios baru. Kode berlaku sekali, sampai",
    "State": "Status",
    "Subject": "Subjek",
    "Text": "Isi",
    "The code as text": "Kode sebagai teks",
    "Title": "Judul",
    "UTF-8, one person a line: number,name[,kind][,roles][,active]; roles separated by ';'. One bad "
    "line refuses the whole file.":
        "UTF-8, satu orang per baris: number,name[,kind][,roles][,active]; peran dipisah ';'. Satu "
        "baris salah menolak seluruh berkas.",
    "When": "Waktu",
    "Who": "Siapa",
    "active": "aktif",
    "any": "semua",
    "everyone": "semua orang",
    "given": "diberikan",
    "kiosks": "kios",
    "messages": "pesan",
    "people": "orang",
    "recipients": "penerima",
    "revoked": "dicabut",
    "staff": "staf",
    "student": "mahasiswa",
    "system": "sistem",
    "waiting for provisioning": "menunggu penyiapan",
    "withdrawn": "ditarik",
    "purpose:face_recognition": "pengenalan wajah",
    "purpose:photo_storage": "penyimpanan foto",
}


PREFIXED = ("role:", "topic:", "channel:", "purpose:")


def translator(lang: str) -> Callable[[str], str]:
    if lang == "id":
        return lambda text: INDONESIAN.get(text, text)
    return lambda text: text.split(":", 1)[1] if text.startswith(PREFIXED) else text


def clock(zone: ZoneInfo) -> Callable[[datetime | None], str]:
    """Times as the lab reads them: its own zone, to the minute."""
    def shown(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "–"
    return shown
