"""English and French: the catalogues, the reader's language, and ``_`` for templates.

Translations ship as ``.po`` files (``locale/<lang>/LC_MESSAGES/messages.po``) and are
compiled in memory with Babel on first use, so no build step and no committed binaries.
English needs a catalogue only for identifiers shown as words (``changes_requested``).
The language is the ``spe_lang`` cookie set by the switch in the page footer, else the
best match of ``Accept-Language``, else English.
"""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from fastapi import Request

LANGUAGES = {"en": "English", "fr": "Français"}
DEFAULT = "en"
COOKIE = "spe_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
_current: ContextVar[str] = ContextVar("spe_console_language", default=DEFAULT)


@cache
def translations(language: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def accepted(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first."""
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag.replace("-", "_")))
    return [tag for _, _, tag in sorted(weighted)]


def language_of(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    preferred = accepted(request.headers.get("accept-language", ""))
    found = negotiate_locale(preferred, list(LANGUAGES)) or \
        negotiate_locale([p.split("_")[0] for p in preferred], list(LANGUAGES))
    return found or DEFAULT


def gettext_(message: str) -> str:
    """The message in the current language (Jinja's i18n extension formats it)."""
    return translations(_current.get()).gettext(message)


def number(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals as the reader's language writes it (2.5, 2,5)."""
    return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                          locale=_current.get())


def ngettext_(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


class speaking:
    """``with speaking("fr"):`` — the language of ``_`` for this block (one render)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def __enter__(self) -> None:
        self.token = _current.set(self.language)

    def __exit__(self, *_exc) -> None:
        _current.reset(self.token)
