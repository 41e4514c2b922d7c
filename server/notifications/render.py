"""Message texts from Jinja2 templates, one set per language.

A template ``NAME`` is ``templates/<language>/NAME.txt.j2`` holding the blocks ``subject``, ``text``
and optionally ``short`` (the push body and WhatsApp text; default: the subject), plus an optional
``NAME.html.j2`` (autoescaped; default: the text in the layout). Every template exists in every
language (a test checks). An unknown name or a variable the context lacks is an error at ``notify``
time, in the caller's code, never later in the sender.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound, select_autoescape
from markupsafe import Markup, escape

from server.notifications.kinds import Language

TEMPLATES = Path(__file__).resolve().parent / "templates"
SHORT_MAX = 500


class TemplateProblem(ValueError):
    """A notification template is missing or cannot be rendered with the context given (a bug in the caller)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    short: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=False,
                       autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
                       trim_blocks=True, lstrip_blocks=True)


def names() -> dict[Language, set[str]]:
    """The template names present in each language."""
    return {lang: {p.name.removesuffix(".txt.j2") for p in (TEMPLATES / lang.value).glob("*.txt.j2")}
            for lang in Language}


def render(name: str, language: Language, context: Mapping[str, Any]) -> Rendered:
    env = environment()
    values = {**context, "language": language.value}
    try:
        text_template = env.get_template(f"{language.value}/{name}.txt.j2")
    except TemplateNotFound as exc:
        raise TemplateProblem(f"no notification template {name!r} in language {language.value}: add "
                              f"server/notifications/templates/{language.value}/{name}.txt.j2") from exc
    try:
        blocks = {block: _block(text_template, block, values) for block in ("subject", "text", "short")
                  if block in text_template.blocks}
        if "subject" not in blocks or "text" not in blocks:
            raise TemplateProblem(f"the template {language.value}/{name}.txt.j2 needs the blocks subject and text")
        subject = " ".join(blocks["subject"].split())
        text = blocks["text"].strip() + "\n"
        try:
            html = env.get_template(f"{language.value}/{name}.html.j2").render({**values, "subject": subject})
        except TemplateNotFound:
            html = env.get_template("_layout.html.j2").render(
                {**values, "subject": subject, "body": _paragraphs(text)})
    except TemplateError as exc:
        raise TemplateProblem(f"the notification template {language.value}/{name} cannot be rendered: {exc}") from exc
    short = " ".join((blocks.get("short") or subject).split())[:SHORT_MAX]
    return Rendered(subject=subject, text=text, html=html, short=short)


def _block(template: Any, block: str, values: dict[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(values)))


def _paragraphs(text: str) -> Markup:
    """Plain text as HTML paragraphs, escaped, line breaks kept."""
    parts = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    return Markup("".join(f"<p>{escape(p)}</p>".replace("\n", "<br>\n") for p in parts))
