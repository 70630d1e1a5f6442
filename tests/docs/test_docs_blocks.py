"""Every fenced block of README.md and docs/*.md is run by the suite, or marked and checked.

- docs/quickstart.md, README.md and the auditor's recipe of docs/audit.md: run as written
  against a real ``spe up`` (``tests/docs/test_quickstart_runs.py``).
- Here, run as written: the analysis library's examples (docs/sdc.md, docs/egress.md) on the
  demo's synthetic extract table, and signing a permit decision (docs/permits.md), whose
  token spe's verifier then accepts.
- Any other block of commands (``sh``, ``python``, or a line starting with ``spe``) says why
  it is not run, on the line before it: ``<!-- not run: <why> -->`` (a production cluster,
  a witness bucket, a fragment of a larger program). It is then checked as far as it can be
  without running: Python compiles and every name it imports exists; every ``spe`` command
  line parses against the real CLI (commands and options); every ``SPE_*`` variable is a
  setting; every API path after ``/api/v1`` is a route; every file a command names in the
  repository exists.
- JSON and YAML blocks parse; the chart values a doc shows are values the chart has.

A doc that drifts (a renamed option, module or setting, a block that no longer runs) fails.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
import yaml
from typer._click.exceptions import (  # typer vendors click: its parser raises these
    BadParameter,
    MissingParameter,
    UsageError,
)

ROOT = Path(__file__).parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
RUN_ELSEWHERE = {ROOT / "docs" / "quickstart.md", ROOT / "README.md", ROOT / "docs" / "audit.md"}
"""Their blocks not marked are run by tests/docs/test_quickstart_runs.py."""
FENCE = re.compile(r"^( *)```([\w-]*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->\s*$")


@dataclass
class Block:
    doc: Path
    line: int
    language: str
    code: str
    not_run: str | None  # the reason given, if marked

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def commands(self) -> bool:
        return self.language in ("sh", "bash", "python") or any(
            line.lstrip().startswith("spe ") for line in self.code.splitlines())


def blocks_of(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marked = NOT_RUN.search(before)
        indent = len(match[1])
        code = "\n".join(row[indent:] for row in match[3].splitlines()) + "\n"
        found.append(Block(doc, line, match[2], code, marked[1] if marked else None))
    return found


BLOCKS = [b for doc in DOCS for b in blocks_of(doc)]
RUN_HERE = {("docs/sdc.md", "python"), ("docs/permits.md", "python"),
            ("docs/egress.md", "python")}
"""Run by this file: the one block of that doc and language not marked."""


def only(doc: str, language: str) -> Block:
    [block] = [b for b in BLOCKS if b.doc == ROOT / doc and b.language == language
               and b.not_run is None]
    return block


def test_every_block_of_commands_is_run_or_says_why_not():
    unaccounted = [b.where for b in BLOCKS if b.commands and b.not_run is None
                   and b.doc not in RUN_ELSEWHERE
                   and (str(b.doc.relative_to(ROOT)), b.language) not in RUN_HERE]
    assert unaccounted == [], "run these in the suite, or mark them <!-- not run: why -->"
    assert len(BLOCKS) > 30  # the reader found the docs' blocks


def test_the_auditors_recipe_is_the_one_block_of_docs_audit_run():
    run = [b for b in BLOCKS if b.doc == ROOT / "docs" / "audit.md" and b.not_run is None
           and b.commands]
    assert [b.language for b in run] == ["sh"] and "spe audit verify" in run[0].code


def test_blocks_run_here_are_the_unmarked_ones():
    for doc, language in RUN_HERE:
        unmarked = [b for b in BLOCKS if b.doc == ROOT / doc and b.language == language
                    and b.not_run is None]
        assert len(unmarked) == 1, (doc, language)


# --- run as written ----------------------------------------------------------------------

def extract_in(folder: Path) -> None:
    """A workspace's ``data/`` with the demo's synthetic care table, ``outputs/`` beside."""
    from spe.data import synth

    (folder / "data").mkdir()
    (folder / "outputs").mkdir()
    synth.write("care", folder / "data" / "snds-care.parquet", 3000, seed=2025)


def test_the_analysis_library_example_runs(tmp_path, monkeypatch):
    """docs/sdc.md, on the extract table it names."""
    extract_in(tmp_path)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(only("docs/sdc.md", "python").code, "docs/sdc.md", "exec"), scope)  # noqa: S102
    assert {p.name for p in (tmp_path / "outputs").iterdir()} == {"cost.csv", "cost.sdc.json"}
    assert scope["res"].check("snds")["outcome"] in ("pass", "review", "fail")


def test_a_replayable_table_as_written(tmp_path, monkeypatch):
    """docs/egress.md's table the airlock can replay: its sidecar records the specification."""
    extract_in(tmp_path)
    monkeypatch.chdir(tmp_path)
    [block] = [b for b in BLOCKS if b.doc == ROOT / "docs" / "egress.md"
               and b.language == "python" and "read_extract" in b.code]
    exec(compile(block.code, block.where, "exec"), {})  # noqa: S102
    sidecar = json.loads((tmp_path / "outputs" / "cost.sdc.json").read_text())
    assert "snds-care" in json.dumps(sidecar)


def test_signing_a_permit_decision_as_written_gives_a_token_spe_accepts(tmp_path,
                                                                        monkeypatch):
    """docs/permits.md: the body's key in ``hdh-signing.jwk``, a ``decision`` (a
    suspension); spe's verifier (the one behind POST /permits/decisions) accepts the token."""
    from joserfc.jwk import OKPKey

    from spe.domain.permit_decisions import TrustedIssuers, verify

    key = OKPKey.generate_key("Ed25519", parameters={"kid": "hdh-2026-1"})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hdh-signing.jwk").write_text(json.dumps(key.as_dict(private=True)))
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps({"https://hdh.example/permits": {
        "keys": [key.as_dict(private=False)]}}))
    decision = {"iss": "https://hdh.example/permits", "jti": "decision-2026-0413",
                "iat": 1790000000, "decision": "suspend", "reference": "HDH-2026-0412",
                "terms": {"reason": "audit finding"}}
    scope = {"decision": decision}
    exec(compile(only("docs/permits.md", "python").code, "docs/permits.md", "exec"), scope)  # noqa: S102
    verified = verify(scope["token"], TrustedIssuers.load(issuers))
    assert verified.kid == "hdh-2026-1" and verified.payload.decision == "suspend"


def test_the_decision_format_shown_is_a_decision():
    from spe.domain.permit_decisions import SignedDecision

    SignedDecision.model_validate(json.loads(only("docs/permits.md", "json").code))


# --- checked without running -------------------------------------------------------------

PYTHON = [b for b in BLOCKS if b.language == "python"]
SHELL = [b for b in BLOCKS if b.language in ("sh", "bash") or (b.commands and b.language
                                                                   not in ("python",))]


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.where)
def test_python_compiles_and_what_it_imports_exists(block):
    tree = ast.parse(block.code, block.where)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(
                    f"{node.module}.{alias.name}"), f"{block.where}: {node.module}.{alias.name}"


def logical_lines(code: str) -> list[str]:
    return [line.strip() for line in code.replace("\\\n", " ").splitlines() if line.strip()]


def spe_commands(code: str) -> list[list[str]]:
    """Each ``spe …`` command of a shell block, as arguments (placeholders filled, comments,
    redirections and what follows a pipe left out); ``$(spe …)`` included."""
    found = []
    for line in logical_lines(code):
        line = re.sub(r"<[^>]+>", "X", line)
        candidates = [m[1] for m in re.finditer(r"\$\((spe [^)]*)\)", line)]
        if line.startswith("spe "):
            candidates.append(line)
        for candidate in candidates:
            words = shlex.split(candidate, comments=True)
            for i, word in enumerate(words):
                if word in (">", ">>", "|", "&&", ";", "2>"):
                    words = words[:i]
                    break
            found.append(words[1:])
    return found


def parses(argv: list[str]) -> None:
    """Resolve ``spe argv`` down to its command and parse its options, running nothing."""
    from spe.cli.main import app

    command, name, parent, args = typer.main.get_command(app), "spe", None, list(argv)
    while True:
        try:
            ctx = command.make_context(name, args, parent=parent)
        except (MissingParameter, BadParameter):  # a file the reader would have, an env var
            ctx = command.make_context(name, args, parent=parent, resilient_parsing=True)
        if not hasattr(command, "resolve_command"):
            return
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, command, args = command.resolve_command(ctx, rest)
        assert command is not None, f"no command {name}"
        parent = ctx


def test_the_command_parser_refuses_what_does_not_exist():
    parses(["audit", "verify", "--export", "log.jsonl", "--public-key", "audit.pub"])
    for wrong in (["audit", "verify", "--no-such-option"], ["egress", "no-such-command"],
                  ["keys", "init", "a", "b"]):
        with pytest.raises((UsageError, AssertionError)):
            parses(wrong)


@pytest.mark.parametrize("block", SHELL, ids=lambda b: b.where)
def test_shell_commands_settings_routes_and_files_exist(block):
    from spe.api.app import create_api
    from spe.settings import Settings

    for argv in spe_commands(block.code):
        try:
            parses(argv)
        except (UsageError, AssertionError) as exc:
            pytest.fail(f"{block.where}: spe {' '.join(argv)}: {exc}")
    settings = {f"SPE_{name.upper()}" for name in Settings.model_fields}
    for variable in re.findall(r"\b(SPE_[A-Z0-9_]+)=", block.code):
        assert variable in settings | {"SPE_URL", "SPE_TOKEN"}, f"{block.where}: {variable}"
    paths = re.findall(r"/api/v1(/[\w/{}$.-]*)", block.code)
    if paths:
        routes = [re.sub(r"\{[^}]+\}", "[^/]+", path) for path in create_api().openapi()["paths"]]
        for path in paths:
            path = re.sub(r"\$\w+", "x", path).rstrip("/")
            assert any(re.fullmatch(route, f"/api/v1{path}") for route in routes), \
                f"{block.where}: /api/v1{path} is no route"
    for name in re.findall(r"(?:bash|python3? -m pytest) ((?:scripts|tests)/\S+)", block.code):
        assert (ROOT / name).exists(), f"{block.where}: {name}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language == "json"],
                         ids=lambda b: b.where)
def test_json_parses(block):
    json.loads(re.sub(r",\s*…", "", block.code))  # "…" elides list items in examples


def manifests() -> list[Block]:
    """The YAML blocks that are Kubernetes objects (an operator's StorageClass), not values."""
    return [b for b in BLOCKS if b.language == "yaml" and "apiVersion" in yaml.safe_load(b.code)]


@pytest.mark.parametrize("block", manifests(), ids=lambda b: b.where)
def test_kubernetes_objects_shown_validate_strictly(block):
    import kubernetes_validate

    from tests.fixtures.kubernetes import KUBERNETES_VERSIONS

    kubernetes_validate.validate(yaml.safe_load(block.code), KUBERNETES_VERSIONS[-1],
                                 strict=True)


def test_the_chart_values_shown_are_the_charts():
    values = yaml.safe_load((ROOT / "helm" / "spe" / "values.yaml").read_text())
    for block in (b for b in BLOCKS if b.language == "yaml" and b not in manifests()):
        shown = yaml.safe_load(block.code)
        for key, sub in shown.items():
            assert key in values, f"{block.where}: {key}"
            if isinstance(sub, dict):
                assert set(sub) <= set(values[key]), f"{block.where}: {key}.{set(sub)}"
