"""Every string of the console's templates has its French translation, and a French page
really is French (the catalogue is compiled from the .po when the console is imported)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from babel.messages.pofile import read_po

from spe.console import i18n

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "console-messages.py"


def messages_script():
    spec = importlib.util.spec_from_file_location("console_messages", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_template_string_is_translated_to_french():
    script = messages_script()
    with script.PO.open("rb") as source:
        catalog = read_po(source, locale="fr")
    missing = []
    for message in script.extracted():
        entry = catalog.get(message if isinstance(message, str) else message[0])
        strings = entry.string if entry is not None else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(message)
    assert missing == [], "run scripts/console-messages.py and translate these"


def test_french_catalogue_compiles_and_translates():
    with i18n.speaking("fr"):
        assert i18n.gettext_("My projects") == "Mes projets"
        assert i18n.ngettext_("%(num)d request awaits review.",
                              "%(num)d requests await review.", 3).startswith("%(num)d demandes")
    with i18n.speaking("en"):
        assert i18n.gettext_("My projects") == "My projects"


def test_language_negotiation():
    assert i18n.accepted("en;q=0.3, fr-CA;q=0.8, de") == ["de", "fr_CA", "en"]
    assert i18n.accepted("fr;q=0, en") == ["en"]
    assert i18n.accepted("fr;q=abc, en") == ["en"]


def test_identifiers_read_as_words_in_english():
    with i18n.speaking("en"):
        assert i18n.gettext_("changes_requested") == "changes requested"
        assert i18n.gettext_("output_checker") == "output checker"
    with i18n.speaking("fr"):
        assert i18n.gettext_("changes_requested") == "modifications demandées"
