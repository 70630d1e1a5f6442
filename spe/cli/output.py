"""Where commands write: results on stdout, messages on stderr, refusals as one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from spe.errors import SpeError

out = Console()
err = Console(stderr=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a refused operation into its message and exit code 1, not a traceback."""
    try:
        yield
    except SpeError as exc:
        err.print(f"[red]{exc.code}:[/] {exc.message}")
        raise typer.Exit(1) from exc
