"""English and French: the catalogues, the reader's language, and ``_`` for templates.

Translations ship as ``.po`` files (``locale/<lang>/LC_MESSAGES/messages.po``) and are
compiled in memory with Babel on first use, so no build step and no committed binaries.
English needs a catalogue only for identifiers shown as words (``changes_requested``).
The language is the ``spe_lang`` cookie set by the switch in the page footer, else the
best match of ``Accept-Language``, else English.

What the layers below say to people (refusals, flags' reasons) comes as
:class:`spe.messages.Message`: English text that keeps its template and parameters. The
template is the catalogue's key; :func:`say` puts the parameters into its translation. A
form's validation error is pydantic's, whose message templates are the keys in the same way
(:func:`problem`).
"""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from fastapi import Request
from pydantic_core._pydantic_core import list_all_errors

from spe.messages import Message, from_json

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


def say(message: Any, english: str = "") -> str:
    """A domain message in the reader's language: a :class:`Message`, its JSON form, or plain
    text (shown as it is). A translation that does not fit its parameters shows the English;
    a JSON form that is not a message shows ``english`` (the record's own text)."""
    if not message:  # None, empty, or a template's undefined value
        return english
    if isinstance(message, dict):
        message = from_json(message) or english
    if not isinstance(message, Message):
        return "" if message is None else str(message)
    if not message.template:
        return ""
    params = {k: say(v) if isinstance(v, Message) else v for k, v in message.params.items()}
    try:
        return gettext_(message.template).format(**params)
    except (KeyError, IndexError, ValueError, TypeError):
        return str(message)


RULE_CONTEXT, PARAMETER_CONTEXT = "rule", "rule parameter"


def rule(name: Any, context: str = RULE_CONTEXT) -> str:
    """A disclosure-control rule's name (``threshold``), or with ``PARAMETER_CONTEXT`` the
    name of a rule's parameter (``zeros_disclosive``), in the reader's language; records
    keep the name itself."""
    if not name:
        return ""
    return translations(_current.get()).pgettext(context, str(name))


def rule_parameter(name: Any) -> str:
    return rule(name, PARAMETER_CONTEXT)


PYDANTIC_TEMPLATES = {e["type"]: e["message_template_python"] for e in list_all_errors()}


def problem(error: dict) -> Message:
    """One of pydantic's validation errors as a :class:`Message` keyed by pydantic's own
    template; an error it cannot rebuild exactly stays pydantic's English text."""
    said = str(error.get("msg", "invalid"))
    template = PYDANTIC_TEMPLATES.get(error.get("type", ""))
    params = {}
    for name, value in (error.get("ctx") or {}).items():
        if isinstance(value, Exception):  # a validator's ValueError: its Message if it has one
            value = value.args[0] if value.args and isinstance(value.args[0], Message) \
                else str(value)
        params[name] = value
    if template and "{expected_plural}" in template and "expected_plural" not in params:
        count = next((v for v in params.values() if isinstance(v, int)), 2)
        params["expected_plural"] = "" if count == 1 else "s"  # as pydantic does
    try:
        made = Message(template, **params) if template else None
    except (KeyError, IndexError, ValueError, TypeError):
        made = None
    return made if made is not None and str(made) == said else Message("{error}", error=said)


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
