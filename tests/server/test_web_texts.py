"""The pages' words and vendored scripts, without a server: every text a template or a page shows has
its Indonesian, the templates load, and the vendored files are the versions the docs name."""

from __future__ import annotations

import re
from pathlib import Path

from server.web import mount, texts
from server.web.rendering import ENVIRONMENT, TEMPLATES

WEB = Path(mount.__file__).resolve().parent
AXE = Path(__file__).resolve().parent.parent / "web" / "vendor" / "axe-core" / "axe.min.js"


def shown_texts() -> set[str]:
    found: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        found |= {m[1] for m in re.findall(r"""\bt\((["'])([^"'~]+?)\1\)""", template.read_text())}
    for module in set(WEB.glob("*.py")) - {WEB / "texts.py"}:  # its docstring shows the form
        found |= set(re.findall(r'notice="([^"]+)"', module.read_text()))
        found |= set(re.findall(r'\bt\("([^"]+)"\)', module.read_text()))
    return found


def test_every_text_the_pages_show_has_its_indonesian() -> None:
    found = shown_texts()
    assert len(found) > 80
    assert sorted(found - set(texts.INDONESIAN)) == []


def test_every_role_topic_channel_and_purpose_has_its_indonesian() -> None:
    from server.auth.roles import Role
    from server.notifications.kinds import Channel, Topic
    from server.people.schemas import Purpose

    for prefix, values in (("role", Role), ("topic", Topic), ("channel", Channel), ("purpose", Purpose)):
        for value in values:
            assert f"{prefix}:{value.value}" in texts.INDONESIAN
            assert texts.translator("en")(f"{prefix}:{value.value}") == value.value


def test_every_template_compiles() -> None:
    for template in TEMPLATES.glob("*.html"):
        ENVIRONMENT.get_template(template.name)


def test_the_vendored_scripts_are_the_pinned_versions() -> None:
    htmx = (WEB / "static" / "vendor" / "htmx" / "htmx.min.js").read_text()
    assert f'version:"{mount.HTMX_VERSION}"' in htmx
    assert (WEB / "static" / "vendor" / "htmx" / "LICENSE").is_file()
    assert AXE.read_text()[:20].startswith("/*! axe v4.14.1")
