"""Runtimes are found by name, and nothing asks which runtime it holds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from controllers.runtimes.kubernetes import KubernetesRuntime
from controllers.runtimes.local import LocalRuntime
from controllers.runtimes.registry import RUNTIMES, UnknownRuntime, make_runtime, runtime_class
from spe.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def test_the_runtimes_by_name():
    assert {"local": LocalRuntime, "kubernetes": KubernetesRuntime} == RUNTIMES
    assert runtime_class("kubernetes") is KubernetesRuntime


def test_an_unknown_runtime_is_refused_with_the_known_names():
    with pytest.raises(UnknownRuntime, match=r"'nomad'.*kubernetes, local"):
        runtime_class("nomad")


def test_the_settings_build_the_runtime_and_its_extract_folder(tmp_path):
    runtime = make_runtime(Settings(data_dir=tmp_path))
    assert runtime.name == "local" and runtime.root == (tmp_path / "workspaces").resolve()
    assert runtime.extract_dir("p-1") == runtime.layout("p-1").extract


def test_a_runtime_whose_workspaces_fetch_the_extract_gets_no_folder(cluster):
    assert KubernetesRuntime(cluster, client=object()).extract_dir("p-1") is None


def test_no_code_asks_which_runtime_it_holds():
    """A runtime's differences are methods of the Runtime contract, not type checks."""
    asked = []
    for folder in ("controllers", "spe", "workspaces"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance" \
                        and len(node.args) == 2 and "Runtime" in ast.unparse(node.args[1]):
                    asked.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert asked == []
