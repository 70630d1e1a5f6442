"""Versioned YAML policy packs, validated against a JSON Schema at load.

This package is data: ``packs/<name>.yaml`` (SDC rules and egress limits a permit names),
``workspace-profiles/<name>.yaml`` (resources and images of a workspace). Each kind has its
schema in ``schemas/<kind>.schema.json``. Code elsewhere turns the validated dicts into its
own types; nothing here knows what the numbers mean.

Schemas are compiled with fastjsonschema: they use no ``format`` keyword, and jsonschema's
format checkers (an RFC 3987 grammar among them) would cost every ``spe`` command a second
at start-up.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
import yaml

KINDS = ("packs", "workspace-profiles")


class PolicyError(Exception):
    """A policy that does not exist or does not validate."""


def _root():
    return resources.files(__name__)


def available(kind: str) -> list[str]:
    """Names of the policies of ``kind`` shipped with spe."""
    _check_kind(kind)
    folder = _root() / kind
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


@cache
def load(kind: str, name: str) -> dict[str, Any]:
    """The policy ``name`` of ``kind``, validated; :class:`PolicyError` otherwise."""
    _check_kind(kind)
    if name not in available(kind):
        raise PolicyError(f"unknown {kind[:-1]} {name!r}; available: {', '.join(available(kind))}")
    data = yaml.safe_load((_root() / kind / f"{name}.yaml").read_text(encoding="utf-8"))
    try:
        validator(kind)(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        where = "/".join(str(p) for p in exc.path[1:]) or "(top)"
        raise PolicyError(f"{kind[:-1]} {name!r} is invalid at {where}: {exc.message}") from exc
    if data.get("name") != name:
        raise PolicyError(f"{kind[:-1]} file {name!r} declares name {data.get('name')!r}")
    return data


@cache
def validator(kind: str):
    """The compiled validator of ``kind``'s schema: raises
    ``fastjsonschema.JsonSchemaValueException`` on a document that does not follow it."""
    _check_kind(kind)
    path = _root() / "schemas" / f"{kind}.schema.json"
    return fastjsonschema.compile(json.loads(path.read_text(encoding="utf-8")))


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise PolicyError(f"unknown policy kind {kind!r}; kinds: {', '.join(KINDS)}")
