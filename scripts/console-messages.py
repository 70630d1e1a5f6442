"""Update the console's French catalogue from the templates (run after changing a string).

    python3 scripts/console-messages.py

Adds the new messages (empty, to translate) to spe/console/locale/fr/LC_MESSAGES/messages.po
and keeps the translations already there; tests/console/test_i18n.py fails while one is
missing.
"""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

CONSOLE = Path(__file__).resolve().parent.parent / "spe" / "console"
PO = CONSOLE / "locale" / "fr" / "LC_MESSAGES" / "messages.po"


def extracted() -> list:
    return [message for _, _, message, _, _ in extract_from_dir(
        CONSOLE / "templates", method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}})]


def main() -> None:
    with PO.open("rb") as source:
        catalog = read_po(source, locale="fr")
    for message in extracted():
        if message not in catalog:
            catalog.add(message)
    with PO.open("wb") as out:
        write_po(out, catalog, width=100, omit_header=False)


if __name__ == "__main__":
    main()
