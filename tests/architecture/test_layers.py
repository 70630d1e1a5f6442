"""The layers are the folders, and the import contract (pyproject.toml, ``lint-imports``)
holds them: nothing imports upward, no folder or module cycle, not even through an import
inside a function. docs/architecture.md draws them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("spe", "controllers", "egress", "workspaces", "policies")


def contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The code as it is, in a folder of its own where a test may break it."""
    tree = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "node_modules"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_contract_holds():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_top_level_module_has_a_layer():
    (layers,) = [c["layers"] for c in contracts() if c["type"] == "layers"]
    named = {name.strip().strip("()") for layer in layers
             for name in layer.replace(":", "|").split("|")}
    present = {p for p in PACKAGES if p != "spe"} | {
        f"spe.{p.stem if p.is_file() else p.name}" for p in (ROOT / "spe").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert present - named == set(), "give these a layer in pyproject.toml"
    assert named - present == set(), "layers name modules that do not exist"


def _with_line(tree: Path, path: str, line: str) -> str:
    target = tree / path
    original = target.read_text()
    target.write_text(original + "\n" + line + "\n")
    return original


@pytest.mark.parametrize(("path", "line", "names"), [
    ("spe/domain/roles.py", "import spe.api.app  # upward",
     "spe.domain is not allowed to import spe.api"),
    ("spe/settings.py", "def _hidden():\n    import spe.audit  # upward, inside a function",
     "spe.settings is not allowed to import spe.audit"),
    ("egress/checks.py", "import spe.airlock.review  # the library reaching into the service",
     "egress is not allowed to import spe.airlock"),
    ("workspaces/spec.py", "import controllers.reconciler  # knows who builds it",
     "workspaces is not allowed to import controllers"),
    ("spe/domain/permits.py", "def _hidden():\n    import spe.domain.permit_lifecycle  # a cycle",
     "No cycles are allowed in spe.domain"),
    ("egress/record.py", "import sqlmodel  # the library needing a database",
     "egress is not allowed to import sqlmodel"),
], ids=["upward", "upward-in-function", "egress-library", "workspaces", "module-cycle",
        "egress-database"])
def test_a_broken_layer_fails_the_contract(copy, path, line, names):
    original = _with_line(copy, path, line)
    try:
        result = lint(copy)
    finally:
        (copy / path).write_text(original)
    assert result.returncode != 0
    assert names in result.stdout, result.stdout
