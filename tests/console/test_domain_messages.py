"""What the layers below the console say to people reaches a French reader in French:
every message the sources can raise or flag is a ``Message`` with a French translation
(walked in the sources, so a new one without a translation fails), the translations keep
their parameters, and a French browser reads refusals, validation errors and the checker's
flag reasons in French."""

from __future__ import annotations

import ast
import string
from datetime import date

import pytest
from babel.messages.pofile import read_po
from pydantic import BaseModel, Field, ValidationError, field_validator

from spe.console import i18n
from spe.console.forms import problems
from spe.domain.roles import Role
from spe.messages import Message, from_json
from tests.console.conftest import Browser, submit
from tests.console.test_i18n import messages_script
from testsupport.factories import make_user

# Raises whose message is built elsewhere (each of these makes a Message itself).
BUILT_ELSEWHERE = {"reason", "_missing([name], settings)", "_missing(missing, settings)",
                   "self._refusal(transition, current, ident)", "forms.problems(exc, 'budget')",
                   "problems(exc, 'form', first_only=True)",
                   "CLAIM_REASONS.get(exc.claim, Message('invalid claim {claim}', "
                   "claim=exc.claim))"}


@pytest.fixture(scope="module")
def script():
    return messages_script()


@pytest.fixture(scope="module")
def french(script):
    with script.PO.open("rb") as source:
        return read_po(source, locale="fr")


def error_classes(trees) -> set[str]:
    """SpeError and every class that derives from it, by name, across the sources."""
    names, grew = {"SpeError"}, True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and any(
                        getattr(b, "id", getattr(b, "attr", None)) in names for b in node.bases):
                    names.add(node.name)
                    grew = True
    return names


def test_every_error_the_sources_raise_says_a_message(script):
    trees = {path: ast.parse(path.read_text(encoding="utf-8"))
             for path in script.python_files()}
    errors = error_classes(trees.values()) - {"SpeError"} | {"SpeError"}
    assert {"Conflict", "Forbidden", "InvalidInput", "AirlockFrozen"} <= errors
    plain, seen = [], 0
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            if (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) not in errors:
                continue
            seen += 1
            first = node.args[0]
            if isinstance(first, ast.Call) and getattr(first.func, "id", None) == "Message":
                if not (first.args and isinstance(first.args[0], ast.Constant)):
                    plain.append(f"{path}:{node.lineno}: Message of a non-literal template")
            elif ast.unparse(first) not in BUILT_ELSEWHERE:
                plain.append(f"{path}:{node.lineno}: {ast.unparse(first)[:60]}")
    assert seen > 150
    assert plain == [], "say it as Message('template {param}', param=...)"


def literal_messages_only(trees, callee: str, position: int, allowed: set[str]) -> tuple:
    """The calls of ``callee`` whose argument at ``position`` is not a ``Message`` of a literal
    template (nor one of the ``allowed`` names for a message made elsewhere), and how many
    calls there were."""
    plain, seen = [], 0
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and len(node.args) > position and (
                    getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == callee):
                continue
            seen += 1
            said = node.args[position]
            if isinstance(said, ast.Call) and getattr(said.func, "id", None) == "Message" \
                    and said.args and isinstance(said.args[0], ast.Constant):
                continue
            if ast.unparse(said) not in allowed:
                plain.append(f"{path.name}:{node.lineno}: {ast.unparse(said)[:60]}")
    return plain, seen


def test_replay_reasons_and_schema_problems_are_messages(script):
    """What a replay says when it cannot run or does not match, a source's schema problems
    and why an extract failed reach the console as Messages (so each has its French, checked
    above)."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8"))
             for path in script.python_files()}
    for callee, position, allowed, at_least in [
            ("NotReplayable", 0, {"refused", "self.refusal"}, 10),
            ("Replay", 1, set(), 4), ("SchemaProblem", 2, set(), 5),
            ("ExtractError", 0, set(), 4), ("MissingVariables", 0, set(), 1),
            ("FilterError", 0, set(), 10)]:
        plain, seen = literal_messages_only(trees, callee, position, allowed)
        assert seen >= at_least, callee
        assert plain == [], f"say it as Message('template {{param}}', param=...) ({callee})"
    reasons = [node.value for tree in trees.values() for node in ast.walk(tree)
               if isinstance(node, ast.Assign) and any(
                   getattr(t, "attr", None) == "reason" for t in node.targets)]
    assert len(reasons) >= 5  # a replay's reason, set by the engine

    def a_message(value) -> bool:
        if isinstance(value, ast.BoolOp):
            return all(a_message(v) for v in value.values)
        return ast.unparse(value) in {"why(exc)", "shape"} or (
            isinstance(value, ast.Call) and getattr(value.func, "id", None) == "Message"
            and isinstance(value.args[0], ast.Constant))
    assert [ast.unparse(r) for r in reasons if not a_message(r)] == []


def rule_names_in(trees) -> tuple[set[str], list[str]]:
    """The rule names the sources flag or apply with (``flag(row, column, rule, ...)``,
    ``applied(rule, ...)``, ``mark(mask, rule, ...)``, ``{"rule": ...}``), and the places
    that name one other than by a literal."""
    positions = {"flag": 2, "applied": 0, "mark": 1}
    names, unnamed = set(), []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            named = []
            if isinstance(node, ast.Call):
                position = positions.get(getattr(node.func, "id", None)
                                         or getattr(node.func, "attr", None))
                if position is not None and len(node.args) > position:
                    named.append(node.args[position])
            elif isinstance(node, ast.Dict):
                named += [v for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value == "rule"]
            for name in named:
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    names.add(name.value)
                elif ast.unparse(name) != "rule":  # a parameter passing a literal on
                    unnamed.append(f"{path.name}:{node.lineno}: {ast.unparse(name)}")
    return names, unnamed


def test_every_rule_a_check_names_has_its_french_label(script, french):
    trees = {path: ast.parse(path.read_text(encoding="utf-8"))
             for path in script.python_files() if "egress" in path.parts}
    named, unnamed = rule_names_in(trees)
    assert {"threshold", "nk-dominance", "replay", "differencing"} <= named
    assert unnamed == [], "name a rule by a literal, so that it gets a French label"
    listed = script.rule_names()  # the check record schema's list, which the script extracts
    assert named <= set(listed), "add the rule to the check record schema's list"
    missing = [n for n in listed if french.get(n, context=i18n.RULE_CONTEXT) is None
               or not french.get(n, context=i18n.RULE_CONTEXT).string]
    assert missing == [], "run scripts/console-messages.py and translate these"
    parameters = script.rule_parameters()  # walked in the sources: every applied(name=...)
    assert {"threshold", "zeros_disclosive", "max_rows"} <= set(parameters)
    missing = [n for n in parameters if french.get(n, context=i18n.PARAMETER_CONTEXT) is None
               or not french.get(n, context=i18n.PARAMETER_CONTEXT).string]
    assert missing == [], "run scripts/console-messages.py and translate these"
    with i18n.speaking("fr"):
        assert i18n.rule("threshold") == "seuil" and i18n.rule("nk-dominance") != "nk-dominance"
        assert i18n.rule_parameter("zeros_disclosive") == "zéros divulgateurs"
    with i18n.speaking("en"):
        assert i18n.rule("threshold") == "threshold"


def fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def test_every_domain_message_and_state_word_has_its_french(script, french):
    said = script.domain_messages()
    words = script.state_words()
    assert len(said) > 200 and {"release", "in_review", "permit"} <= set(words)
    missing = [m for m in [*said, *words, *script.pydantic_messages()]
               if french.get(m) is None or not french.get(m).string]
    assert missing == [], "run scripts/console-messages.py and translate these"


def test_french_translations_keep_the_parameters_of_their_message(script, french):
    """A translation naming a parameter its message lacks would fall back to English."""
    wrong = []
    for template in [*script.domain_messages(), *script.pydantic_messages()]:
        translated = french.get(template).string
        if fields(translated) != fields(template):
            wrong.append((template, translated))
    assert wrong == []


def test_a_message_is_its_english_text_and_survives_json():
    refused = Message("cannot {transition} {noun} {ident}: it is {current}; {transition} "
                      "applies to a {noun} that is {allowed}", transition=Message("release"),
                      noun=Message("request"), ident="r1", current=Message("in_review"),
                      allowed=Message.listing([Message("approved")]))
    assert refused == "cannot release request r1: it is in_review; release applies to a " \
                      "request that is approved"
    assert from_json(refused.as_json()) == refused
    assert Message("a JSON object {{issuer: JWKS}}") == "a JSON object {issuer: JWKS}"
    with i18n.speaking("fr"):
        said = i18n.say(refused.as_json())
    assert said.startswith("impossible d’effectuer « diffuser » (demande r1)")  # noqa: RUF001
    assert "en vérification" in said and "approuvée" in said
    with i18n.speaking("en"):
        assert i18n.say(refused) == str(refused).replace("in_review", "in review")


def test_a_translation_that_does_not_fit_shows_the_english(monkeypatch):
    monkeypatch.setattr(i18n, "gettext_", lambda template: "{absent} !")
    assert i18n.say(Message("no project {project_id!r}", project_id="p1")) == "no project 'p1'"
    assert i18n.say("plain text") == "plain text" and i18n.say(None) == ""
    broken = {"template": "{count} contributors, {x:g}", "params": {"count": 3, "x": "many"}}
    assert i18n.say(broken, "3 contributors") == "3 contributors"  # the record's own text


class Form(BaseModel):
    title: str = Field(max_length=5)
    day: date

    @field_validator("title")
    @classmethod
    def not_shouting(cls, value: str) -> str:
        if value.isupper():
            raise ValueError(Message("{value!r} is shouted", value=value))
        return value


def test_pydantic_errors_become_messages_with_pydantic_templates():
    with pytest.raises(ValidationError) as caught:
        Form.model_validate({"title": "far too long", "day": "tomorrow"})
    said = problems(caught.value, "form")
    assert str(said) == "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                  for e in caught.value.errors())
    with i18n.speaking("fr"):
        french = i18n.say(said)
    assert "title : La chaîne devrait avoir au plus 5 caractères" in french
    assert "day : La valeur devrait être une date ou une date-heure valide" in french
    with pytest.raises(ValidationError) as shouted:
        Form.model_validate({"title": "LOUD", "day": "2026-01-01"})
    with i18n.speaking("fr"):
        assert i18n.say(problems(shouted.value, "form")) == \
            "title : Valeur invalide, 'LOUD' is shouted"  # no French for this test's message


# --- a French browser ---------------------------------------------------------------------

FR = "fr-FR,fr;q=0.9"


def test_a_french_checker_reads_flags_refusals_and_form_errors_in_french(
        app, engine, client, world):
    checker = Browser(app, make_user(engine, Role.output_checker)[1], language=FR)
    request = submit(client, world.project_id, world.alice_token)
    rid = request["id"]
    csv = next(f for f in request["files"] if f["name"] == "counts.csv")

    page = checker.get(f"/console/review/{rid}")
    assert page.status_code == 200 and page.headers["content-language"] == "fr"
    assert "seuil: 3 contributeurs, moins de 11" in page.text  # the rule's French label
    assert "<strong>seuil</strong> · seuil = 11 · zéros divulgateurs = " in page.text
    assert "cellule vide : les zéros sont divulgateurs selon ce jeu de règles" in page.text
    assert "threshold: 3 contributors" not in page.text
    assert "image : une personne doit la vérifier (petits groupes" in page.text  # a note

    refused = checker.post(f"/console/review/{rid}/release")  # not approved: a 409
    assert refused.status_code == 409, refused.text
    assert f"impossible d’effectuer « diffuser » (demande {rid})" in refused.text  # noqa: RUF001
    assert "s’applique dans l’état approuvée" in refused.text  # noqa: RUF001

    vote_url = f"/console/review/{rid}/files/{csv['id']}/vote"
    unjustified = checker.post(vote_url, {"decision": "approve", "sha256": csv["sha256"]})
    assert unjustified.status_code == 422
    assert ("counts.csv a échoué aux contrôles automatiques ; l’approuver demande une "  # noqa: RUF001
            "justification écrite") in unjustified.text

    invalid = checker.post(vote_url, {"decision": "maybe", "sha256": csv["sha256"]})
    assert invalid.status_code == 422
    assert "decision : La valeur devrait être" in invalid.text

    english = Browser(app, make_user(engine, Role.output_checker)[1])
    english_page = english.get(f"/console/review/{rid}").text
    assert "threshold: 3 contributors, fewer than 11" in english_page
    assert "<strong>threshold</strong> · threshold = 11 · zeros_disclosive = " in english_page


def test_a_french_researcher_reads_why_she_may_not_enter(app, engine, client, tokens):
    from testsupport.factories import auth, make_dataset, permit_body
    carol, carol_token = make_user(engine, Role.researcher)
    permit = client.post("/api/v1/permits", json=permit_body(make_dataset(engine), [carol]),
                         headers=auth(tokens[Role.permit_manager])).json()
    client.post(f"/api/v1/permits/{permit['id']}/suspend", json={"reason": "audit"},
                headers=auth(tokens[Role.permit_manager]))
    home = Browser(app, carol_token, language=FR).get("/").text
    assert "Accès impossible : l’autorisation est suspendue" in home  # noqa: RUF001


def test_a_french_researcher_reads_why_her_extract_failed(app, engine, world):
    from sqlmodel import Session

    from spe.dataplane import CONDITION
    from spe.domain.projects import Project
    from spe.messages import Message

    missing = Message("{source} has no variable {variables}",
                      source="sources/snds/care.csv", variables="icd10")
    with Session(engine) as session:
        project = session.get(Project, world.project_id)
        project.conditions = {**project.conditions, CONDITION: {
            "state": "failed", "message": str(missing), "message_json": missing.as_json()}}
        session.add(project)
        session.commit()
    page = Browser(app, world.alice_token, language=FR).get(
        f"/console/projects/{world.project_id}")
    assert page.status_code == 200, page.text
    assert "sources/snds/care.csv n’a pas la variable icd10" in page.text  # noqa: RUF001
    english = Browser(app, world.alice_token).get(f"/console/projects/{world.project_id}")
    assert "sources/snds/care.csv has no variable icd10" in english.text
