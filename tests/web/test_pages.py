"""The web pages in a real Chromium against a real server: signing in with several roles, a kiosk's
provisioning QR code read back from the page's image, a student's own QR code, refusals (CSRF, role,
tampered cookie, another person's data), axe-core on every page, screenshots at phone and desktop width."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import cv2
import httpx
import numpy as np
import pytest

from tests.web.conftest import AXE, PASSWORD, Site, sign_in

pytestmark = pytest.mark.timeout(300)


def qr_text(page: Any, selector: str) -> str:
    """Decode the QR code the page shows in ``selector`` (a data: PNG) with OpenCV's ArUco-based detector, the
    kiosk's (the classic one misses a few per cent of clean codes)."""
    source = page.locator(selector).get_attribute("src")
    assert source and source.startswith("data:image/png;base64,"), source
    image = cv2.imdecode(np.frombuffer(base64.b64decode(source.split(",", 1)[1]), np.uint8), cv2.IMREAD_GRAYSCALE)
    text, points, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert points is not None and text, "OpenCV found no QR code in the page's image"
    return str(text)


def test_a_person_with_several_roles_chooses_one_and_can_switch(page: Any, site: Site) -> None:
    sign_in(page, site.head.number)
    assert page.url.endswith("/role")
    assert page.get_by_role("heading", name="Choose your role").is_visible()
    page.get_by_label("head").check()
    page.get_by_role("button", name="Continue").click()
    assert page.url.endswith("/home")
    assert "head" in page.locator(".who").inner_text()
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Audit log").is_visible()
    page.goto("/admin/audit")
    assert page.get_by_role("heading", name="Audit log").is_visible()

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Switch role").click()
    page.get_by_label("lecturer").check()
    page.get_by_role("button", name="Continue").click()
    assert "lecturer" in page.locator(".who").inner_text()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").count() == 0
    answer = page.goto("/admin/audit")
    assert answer is not None and answer.status == 403
    assert "may not open this page" in page.locator(".problem").inner_text()


def test_one_role_goes_straight_home_and_a_wrong_password_is_refused(page: Any, site: Site) -> None:
    sign_in(page, site.technician.number, "not the password")
    assert page.url.endswith("/login")
    assert "wrong" in page.get_by_role("alert").inner_text()
    sign_in(page, site.technician.number)
    assert page.url.endswith("/home")
    page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/login")
    assert page.goto("/home") is not None and page.url.endswith("/login")


def test_an_admin_registers_a_kiosk_and_its_qr_code_provisions_it(page: Any, site: Site) -> None:
    sign_in(page, site.admin.number)
    page.goto("/admin/kiosks")
    page.get_by_label("Name").fill("door LAB-3")
    page.get_by_label("Room").fill("LAB-3")
    page.get_by_role("button", name="Register").click()
    payload = qr_text(page, "#provisioning-qr")
    assert payload == page.locator(".mono").text_content()
    parsed = urlparse(payload)
    query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    assert parsed.scheme == "labgate" and query["server"] == site.base
    activated = httpx.post(f"{site.base}/api/v1/devices/{query['device']}:activate",
                           json={"provisioning_token": query["token"], "device_token": "k" * 43})
    assert activated.status_code == 200, activated.text
    assert activated.json()["name"] == "door LAB-3"
    page.goto("/admin/kiosks")
    row = page.get_by_role("row").filter(has_text="door LAB-3")
    assert "active" in row.inner_text()
    row.get_by_role("button", name="Revoke").click()
    assert "revoked" in page.get_by_role("row").filter(has_text="door LAB-3").inner_text()
    again = httpx.get(f"{site.base}/api/v1/devices/{query['device']}/changes",
                      headers={"Authorization": "Bearer " + "k" * 43})
    assert again.status_code == 401


def test_staff_import_people_record_consent_and_announce(page: Any, site: Site, tmp_path: Path) -> None:
    good, bad = tmp_path / "people.csv", tmp_path / "bad.csv"
    good.write_text("number,name,kind,roles\n2301000001,Ayu Lestari,student,student\n"
                    "2301000002,Rizky Pratama,student,student;assistant\n")
    bad.write_text("number,name\n2301000003,\n")
    sign_in(page, site.admin.number)
    page.goto("/admin/people")
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Import", exact=True).click()
    assert "line 2" in page.get_by_role("alert").inner_text()
    page.get_by_label("CSV file").set_input_files(str(good))
    page.get_by_role("button", name="Import", exact=True).click()
    assert "2 new" in page.get_by_role("status").inner_text()
    page.get_by_label("Name or number").fill("Rizky")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="2301000002").click()
    page.get_by_label("Note (how it was given)").fill("paper form signed")
    page.get_by_role("button", name="Record consent").click()
    assert "paper form signed" in page.get_by_role("region", name="Consent").inner_text()

    page.goto("/admin/announcements")
    page.get_by_label("Title").fill("Praktikum pindah ke LAB-2")
    page.get_by_label("Text").fill("Minggu ini praktikum di LAB-2.")
    page.get_by_label("student", exact=True).check()
    page.get_by_role("button", name="Announce").click()
    assert "Praktikum pindah ke LAB-2" in page.locator("main").inner_text()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, site.student.number)
    page.goto("/announcements")
    assert "Praktikum pindah ke LAB-2" in page.locator("main").inner_text()


def test_a_student_shows_a_qr_code_for_the_door_drawn_by_htmx(page: Any, site: Site) -> None:
    sign_in(page, site.student.number)
    page.goto("/me/qr")
    assert page.evaluate("typeof window.htmx") == "object", "htmx is served from this server and runs under the CSP"
    page.get_by_role("button", name="Tampilkan kode QR saya").click()
    page.locator("#qr img").wait_for()
    assert page.url.endswith("/me/qr"), "swapped in place, not a new page"
    token = qr_text(page, "#qr img")
    assert token.startswith("LG1.")
    payload = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    assert site.student.number.encode() in payload


def test_the_pages_speak_each_persons_language(page: Any, site: Site) -> None:
    sign_in(page, site.student.number)
    assert page.locator("html").get_attribute("lang") == "id"
    page.goto("/me/settings")
    page.get_by_label("Bahasa", exact=True).select_option("en")
    page.get_by_role("button", name="Simpan").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("button", name="Save").is_visible()
    page.get_by_label("Language", exact=True).select_option("id")
    page.get_by_role("button", name="Save").click()
    assert page.locator("html").get_attribute("lang") == "id"


def test_no_page_shows_another_persons_data(page: Any, site: Site) -> None:
    sign_in(page, site.student.number)
    page.goto("/me/attendance")
    text = page.locator("main").inner_text()
    assert "kiosk camera broken" in text and "hospital" not in text and site.other.name not in text
    page.goto("/announcements")
    text = page.locator("main").inner_text()
    assert "Lab tutup Jumat" in text and "Only for Budi" not in text
    for path in ("/admin/attendance", f"/admin/attendance?number={site.other.number}", "/admin/attendance.csv",
                 "/admin/people", f"/admin/people/{site.other.id}", "/admin/audit", "/admin/kiosks",
                 "/admin/notifications", "/admin/announcements"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
        text = page.locator("body").inner_text()
        assert "hospital" not in text and site.other.number not in text, path


def _cookies(page: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(page: Any, site: Site) -> None:
    sign_in(page, site.admin.number)
    cookies = _cookies(page)
    for sent in ({}, {"csrf": "forged"}):
        answer = httpx.post(f"{site.base}/admin/kiosks", data={"name": "sneaky", "room": "LAB-9", **sent},
                            cookies=cookies)
        assert answer.status_code == 403 and "security token" in answer.text
        assert answer.headers["content-type"].startswith("text/html")
    page.goto("/admin/kiosks")
    assert "sneaky" not in page.locator("main").inner_text()
    login = httpx.post(f"{site.base}/login", data={"number": site.admin.number, "password": PASSWORD})
    assert login.status_code == 403 and "labgate_session" not in login.cookies
    out = httpx.post(f"{site.base}/logout", cookies=cookies)
    assert out.status_code == 403
    assert page.goto("/home") is not None and page.url.endswith("/home"), "the session still stands"


def test_a_tampered_or_ended_session_cookie_is_refused(page: Any, site: Site) -> None:
    sign_in(page, site.admin.number)
    token = _cookies(page)["labgate_session"]
    assert httpx.get(f"{site.base}/admin/people", cookies={"labgate_session": token}).status_code == 200
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, token + "x", "lgs_" + "A" * 43, "", "admin"):
        answer = httpx.get(f"{site.base}/admin/people", cookies={"labgate_session": bad})
        assert answer.status_code == 303 and answer.headers["location"] == "/login", bad
        assert site.head.name not in answer.text
    page.get_by_role("button", name="Sign out").click()
    ended = httpx.get(f"{site.base}/admin/people", cookies={"labgate_session": token})
    assert ended.status_code == 303 and ended.headers["location"] == "/login"


def test_the_session_cookie_is_httponly_and_samesite_lax(page: Any, site: Site) -> None:
    sign_in(page, site.technician.number)
    cookie = next(c for c in page.context.cookies() if c["name"] == "labgate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain HTTP here
    assert page.evaluate("document.cookie").find("labgate_session") == -1
    assert re.fullmatch(r"lgs_[A-Za-z0-9_-]{43}", cookie["value"])


PAGES = {
    "admin": ["/home", "/me/attendance", "/me/qr", "/announcements", "/me/settings", "/admin/people",
              "/admin/people/{student}", "/admin/kiosks", "/admin/attendance", "/admin/announcements",
              "/admin/notifications", "/admin/audit"],
    "student": ["/home", "/me/attendance", "/me/qr", "/announcements", "/me/settings"],
    "head": ["/role"],
}


def _axe(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())  # through the debugger protocol: the page's CSP stays as it is
    result = page.evaluate("axe.run(document, {runOnly: {type: 'tag', values: "
                           "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})")
    assert len(result["passes"]) > 10, "axe ran its rules on the page"
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def _visit(page: Any, site: Site, who: str, path: str, shots: Path, found: dict[str, Any]) -> None:
    name = f"{who}{path.replace('/', '_').replace('{student}', 'person')}"
    path = path.format(student=site.student.id)
    answer = page.goto(path)
    assert answer is not None and answer.status == 200, path
    _photograph(page, name, shots, found)


def _photograph(page: Any, name: str, shots: Path, found: dict[str, Any]) -> None:
    """The page as it stands: a screenshot at phone and desktop width, axe's serious findings at each."""
    for width, height, label in ((390, 844, "phone"), (1280, 800, "desktop")):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
        bad = _axe(page)
        if bad:
            found[f"{name} ({label})"] = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in bad]


def test_every_page_passes_axe_and_is_photographed_at_phone_and_desktop_width(
        page: Any, site: Site, artifacts_dir: Path) -> None:
    found: dict[str, Any] = {}
    page.goto("/login")
    _visit(page, site, "anyone", "/login", artifacts_dir, found)
    sign_in(page, site.admin.number)
    page.goto("/admin/kiosks")
    page.get_by_label("Name").fill("door LAB-2")
    page.get_by_label("Room").fill("LAB-2")
    page.get_by_role("button", name="Register").click()
    page.locator("#provisioning-qr").wait_for()
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts_dir / "admin_kiosks_registered-phone.png"), full_page=True)
    bad = _axe(page)
    if bad:
        found["kiosk registered"] = [(v["id"], v["impact"]) for v in bad]
    for path in PAGES["admin"]:
        _visit(page, site, "admin", path, artifacts_dir, found)
    answer = page.goto("/admin/audit?after=abc")
    assert answer is not None and answer.status == 422
    _visit_error = _axe(page)
    if _visit_error:
        found["error page"] = [(v["id"], v["impact"]) for v in _visit_error]
    page.screenshot(path=str(artifacts_dir / "admin_error-phone.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, site.student.number)
    for path in PAGES["student"]:
        _visit(page, site, "student", path, artifacts_dir, found)
    page.goto("/me/qr")
    page.get_by_role("button", name="Tampilkan kode QR saya").click()
    page.locator("#qr img").wait_for()
    page.screenshot(path=str(artifacts_dir / "student_me_qr_shown-phone.png"), full_page=True)
    page.get_by_role("button", name="Keluar").click()
    sign_in(page, site.head.number)
    for path in PAGES["head"]:
        _visit(page, site, "head", path, artifacts_dir, found)
    assert not found, found
    shots = sorted(p.name for p in artifacts_dir.glob("*.png"))
    assert len(shots) >= 2 * (1 + len(PAGES["admin"]) + len(PAGES["student"]) + len(PAGES["head"]))


def test_axe_finds_a_planted_violation(page: Any, site: Site) -> None:
    """The check can fail: an image without a text alternative and a field without a label are found."""
    page.goto("/login")
    page.evaluate("""document.querySelector('main').insertAdjacentHTML('beforeend',
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text">')""")
    assert {v["id"] for v in _axe(page)} >= {"image-alt", "label"}


def test_the_keyboard_reaches_the_skip_link_first_and_focus_is_visible(page: Any, site: Site) -> None:
    sign_in(page, site.student.number)
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.className, document.activeElement.getAttribute('href')]")
    assert focused == ["skip", "#main"]
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
