"""Swapping a part of a running application's composition root (a test's object store, a
data plane it drives itself, settings changed for one test)."""

from __future__ import annotations

import dataclasses

from fastapi import FastAPI

from spe.platform import Platform


def swap(app: FastAPI, **parts) -> Platform:
    """Give ``app``'s routes ``parts`` (fields of :class:`spe.platform.ApiPlatform`) from now
    on; return the root before, to put back."""
    before = app.state.platform
    app.state.platform = dataclasses.replace(before, **parts)
    return before
