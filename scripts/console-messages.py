"""Update the console's French catalogue (run after changing a string).

    python3 scripts/console-messages.py

Adds the new messages (empty, to translate) to spe/console/locale/fr/LC_MESSAGES/messages.po
and keeps the translations already there; tests/console/test_i18n.py fails while one is
missing. The messages are the templates' strings, the templates of every
``Message("...")`` in the Python sources (what the domain says to people), the words a
state machine's refusal puts in its sentence, pydantic's validation messages, and the names
of the disclosure-control rules and of their parameters (contexts ``rule`` and ``rule
parameter``: the name is the record's, the label the reader's).
"""

import ast
import json
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from pydantic_core._pydantic_core import list_all_errors

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "spe" / "console"
PO = CONSOLE / "locale" / "fr" / "LC_MESSAGES" / "messages.po"
RULE_CONTEXT = "rule"  # spe.console.i18n.RULE_CONTEXT
PARAMETER_CONTEXT = "rule parameter"  # spe.console.i18n.PARAMETER_CONTEXT
SOURCES = ("spe", "egress", "controllers", "workspaces", "policies")


def template_strings() -> list:
    return [message for _, _, message, _, _ in extract_from_dir(
        CONSOLE / "templates", method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}})]


def message_calls(tree: ast.AST):
    """The ``Message(...)`` calls of a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (
                getattr(node.func, "id", None) == "Message"
                or getattr(node.func, "attr", None) == "Message"):
            yield node


def python_files():
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def domain_messages() -> list[str]:
    """Every literal template of a ``Message`` in the sources."""
    found = []
    for path in python_files():
        for call in message_calls(ast.parse(path.read_text(encoding="utf-8"))):
            first = call.args[0] if call.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str) \
                    and first.value not in found:
                found.append(first.value)
    return found


def state_words() -> list[str]:
    """The words of the state machines' refusals (their nouns, transitions and states)."""
    from spe.airlock.review import MACHINE as REQUESTS
    from spe.domain.permit_lifecycle import MACHINE as PERMITS
    from spe.domain.workspace_lifecycle import MACHINE as WORKSPACES
    return sorted(set().union(*(m.words for m in (REQUESTS, PERMITS, WORKSPACES))))


def pydantic_messages() -> list[str]:
    return sorted({e["message_template_python"] for e in list_all_errors()})


def rule_names() -> list[str]:
    """The disclosure-control rules a check record names (its schema's list)."""
    schema = json.loads((ROOT / "egress" / "schemas" / "check-record.schema.json").read_text(
        encoding="utf-8"))
    return schema["properties"]["rules"]["items"]["properties"]["rule"]["enum"]


def rule_parameters() -> list[str]:
    """The names of the parameters a rule is applied with (``applied(rule, name=...)``)."""
    found = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "applied":
                found += [k.arg for k in node.keywords if k.arg and k.arg not in found]
    return found


def extracted() -> list:
    return [*template_strings(), *domain_messages(), *state_words(), *pydantic_messages()]


def main() -> None:
    with PO.open("rb") as source:
        catalog = read_po(source, locale="fr")
    for message in extracted():
        if message and message not in catalog:  # "" is the header
            catalog.add(message)
    for context, names in ((RULE_CONTEXT, rule_names()),
                           (PARAMETER_CONTEXT, rule_parameters())):
        for name in names:
            if catalog.get(name, context=context) is None:
                catalog.add(name, context=context)
    with PO.open("wb") as out:
        write_po(out, catalog, width=100, omit_header=False)


if __name__ == "__main__":
    main()
