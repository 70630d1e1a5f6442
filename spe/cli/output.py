"""Where commands write: results on stdout, messages on stderr, refusals as one line.

rich loads on the first thing printed, not at start-up: importing it costs every command,
``spe --help`` included, about 15 ms (``tests/cli/test_startup.py`` keeps it out).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from spe.errors import SpeError

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A :class:`rich.console.Console` made with ``options`` when first used."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def console(self) -> Console:
        """The console itself (for rich objects that take one, a progress bar)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console(), name)


out = LazyConsole()
err = LazyConsole(stderr=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a refused operation into its message and exit code 1, not a traceback."""
    try:
        yield
    except SpeError as exc:
        err.print(f"[red]{exc.code}:[/] {exc.message}")
        raise typer.Exit(1) from exc
